"""The training and evaluation scripts end to end: resume after kill, eval CSV, bad inputs."""
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from conftest import CODE_DIR
from conftest import subprocess_env
from mentornet.errors import UsageError

TINY_RESNET = ["--studentnet=resnet101", "--num_residual_units=1", "--resnet_widths=8,8,16,16"]


def _script(name):
  return [sys.executable, str(CODE_DIR / name)]


def _run(args, timeout=300):
  return subprocess.run(args, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def random_mentornet(tmp_path_factory):
  from mentornet.models import mentornet_net
  path = str(tmp_path_factory.mktemp("mentornet") / "saved")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=2), path)
  return path


def _latest_step(train_dir):
  path = tf.train.latest_checkpoint(str(train_dir))
  return int(path.rsplit("-", 1)[1]) if path else 0


# Far more steps than any test waits for: a run killed by `_kill_after_checkpoint` cannot have
# finished, whatever the machine's speed.
ENDLESS = "--max_number_of_steps=1000000"


def _kill_after_checkpoint(command, train_dir, min_step):
  """Starts `command` (an ENDLESS run), SIGKILLs it once a checkpoint at step >= `min_step`
  exists, and returns the latest checkpoint's step after the kill. The kill is driven by that
  observed state only; the deadline just bounds a hung run."""
  proc = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 300
    while _latest_step(train_dir) < min_step:
      assert proc.poll() is None, proc.stderr.read()[-3000:]
      assert time.time() < deadline, f"no checkpoint at step >= {min_step} in 300 s"
      time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
    proc.stderr.close()
  return _latest_step(train_dir)


def test_baseline_resumes_after_kill_and_eval_writes_csv(tiny_cifar, tmp_path):
  train_dir = tmp_path / "train"
  common = _script("cifar_train_baseline.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      "--save_interval_secs=1", "--verbose=2", "--augmentation=flip"]
  killed_at = _kill_after_checkpoint(common + [ENDLESS], train_dir, min_step=2)
  assert killed_at >= 2
  final_step = killed_at + 5
  command = common + [f"--max_number_of_steps={final_step}"]

  resumed = _run(command)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"Resuming from {train_dir}/ckpt-{killed_at} at step {killed_at}" in resumed.stdout
  assert f"Finished at step {final_step}" in resumed.stdout
  assert _latest_step(train_dir) == final_step
  # The changed step budget is said and recorded, not silently overwritten.
  assert (f"resuming at step {killed_at} with changed settings: max_number_of_steps 1000000 -> "
          f"{final_step}") in resumed.stdout
  import json
  record = json.loads((train_dir / "train_config.json").read_text())
  assert record["max_number_of_steps"] == final_step
  assert record["augmentation"] == "flip"  # the flag reaches the run's config
  assert record["changes"] == [{"step": killed_at,
                                "changed": {"max_number_of_steps": [1000000, final_step]}}]

  # The eval job takes the StudentNet from the run's train_config.json (no TINY_RESNET here).
  csv_path = tmp_path / "eval" / "accuracy.csv"
  eval_command = _script("cifar_eval.py") + [
      f"--data_dir={tiny_cifar / 'val'}", f"--checkpoint_dir={train_dir}",
      f"--eval_dir={tmp_path / 'eval'}", f"--output_csv_file={csv_path}", "--run_once"]
  evaluated = _run(eval_command + ["--master=local"])  # the original's TF1 flag, noted
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  assert "note: --master=local is ignored" in evaluated.stdout
  rows = csv_path.read_text().strip().splitlines()
  assert rows[0] == "global_step,accuracy,loss"
  step, accuracy, loss = rows[1].split(",")
  assert int(step) == final_step and 0.0 <= float(accuracy) <= 1.0 and float(loss) > 0
  assert list((tmp_path / "eval").glob("events.out.tfevents.*"))
  # A second look finds nothing new: each checkpoint is evaluated once.
  again = _run(eval_command)
  assert again.returncode == 0 and len(csv_path.read_text().strip().splitlines()) == 2

  # Eval jobs that cannot work stop at once with one line, before their eval_dir exists: a
  # flag contradicting train_config.json, a checkpoint of another StudentNet (no record to
  # correct the flags), a corrupt data file.
  import shutil
  bare_dir = tmp_path / "bare"
  bare_dir.mkdir()
  for path in train_dir.glob(f"ckpt-{final_step}.*"):
    shutil.copy(path, bare_dir)
  (bare_dir / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{final_step}"\n')
  bad_val = tmp_path / "bad_val"
  shutil.copytree(tiny_cifar / "val", bad_val)
  victim = sorted(bad_val.glob("cifar10_test-*"))[0]
  blob = bytearray(victim.read_bytes())
  blob[len(blob) // 2:len(blob) // 2 + 64] = b"\xff" * 64
  victim.write_bytes(bytes(blob))
  new_eval = tmp_path / "new_eval"
  common_eval = [f"--eval_dir={new_eval}", "--run_once"]
  cases = [
      ([f"--data_dir={tiny_cifar / 'val'}", f"--checkpoint_dir={train_dir}",
        "--resnet_widths=8,8,16,32"], "contradicts the run's train_config.json"),
      ([f"--data_dir={tiny_cifar / 'val'}", f"--checkpoint_dir={bare_dir}"],
       f"checkpoint {bare_dir}/ckpt-{final_step} does not fit the StudentNet"),
      ([f"--data_dir={bad_val}", f"--checkpoint_dir={train_dir}"],
       f"corrupt TFRecord file {victim}"),
  ]
  results = _run_cases("cifar_eval.py", [argv + common_eval for argv, _ in cases])
  for (code, stderr), (_, fragment) in zip(results, cases):
    _check_one_error_line(code, stderr, fragment)
  assert not new_eval.exists()


def test_mentornet_resume_restores_moving_average(tiny_cifar, random_mentornet, tmp_path):
  from mentornet.config import train_config
  from mentornet.curricula import base as curriculum
  from mentornet.training import checkpoints
  from mentornet.training import loop as training_loop
  train_dir = tmp_path / "train"
  base = _script("cifar_train_mentornet.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      f"--trained_mentornet_dir={random_mentornet}", "--loss_p_precentile=0.75",
      "--fixed_epoch_after_burn_in", "--burn_in_epoch=2", "--save_summaries_secs=0",
      "--verbose=0"]
  first = _run(base + ["--max_number_of_steps=6"])
  assert first.returncode == 0, first.stderr[-3000:]
  # The epoch fed to the MentorNet, floor(step / 6 x 100) = 0, 16, 33, ..., fixed at 2 after
  # burn-in; summaries are tagged with the step count after each step.
  epochs = {}
  for path in train_dir.glob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.tag == "debug/epoch_step":
          epochs[event.step] = float(tf.make_ndarray(value.tensor))
  assert epochs == {1: 0.0, 2: 2.0, 3: 2.0, 4: 2.0, 5: 2.0, 6: 2.0}
  # The original's misspelling is honoured here, with one warning that the original ignored it.
  warnings = [line for line in first.stdout.splitlines() if "loss_p_precentile" in line]
  assert warnings == ["warning: --loss_p_precentile=0.75 is used here as --loss_p_percentile, "
                      "but the original code never defined that spelling and ignored it (TF "
                      "1.8's tf.app.run drops unknown flags): its runs used p = 0.7."]
  reader = tf.train.load_checkpoint(str(train_dir))
  keys = [k for k in reader.get_variable_to_shape_map() if "curriculum/" in k and
          "OPTIMIZER" not in k]
  assert len(keys) == 1, keys
  saved_average = float(reader.get_tensor(keys[0]))
  assert saved_average > 0.0  # it moved away from its initial 0

  # Restoring into a freshly built trainer gives back exactly the saved moving average.
  config = train_config.TrainConfig(train_log_dir=str(train_dir), data_dir=str(tiny_cifar / "0.4"),
                                     curriculum="mentornet", batch_size=16, max_number_of_steps=6,
                                     num_residual_units=1, resnet_widths=(8, 8, 16, 16))
  from mentornet.models import mentornet_net
  mentornet = mentornet_net.load_mentornet(random_mentornet)
  model = training_loop.build_trainer(
      config, tf.distribute.get_strategy(), 10, 160,
      lambda **_: curriculum.MentorNetCurriculum(mentornet, name="curriculum"))
  checkpoints.make_checkpoint(model).restore(
      tf.train.latest_checkpoint(str(train_dir))).assert_existing_objects_matched()
  assert float(model.curriculum.loss_moving_average.numpy()) == saved_average
  assert int(model.optimizer.iterations.numpy()) == 6

  second = _run(base + ["--max_number_of_steps=9"])
  assert second.returncode == 0, second.stderr[-3000:]
  assert "at step 6" in second.stdout and "Finished at step 9" in second.stdout


def test_divergence_stops_with_the_step_and_keeps_finite_checkpoints(tiny_cifar, tmp_path):
  import numpy as np
  train_dir = tmp_path / "train"
  command = _script("cifar_train_baseline.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      "--save_interval_secs=0", "--verbose=0", "--max_number_of_steps=40"]
  diverged = _run(command + ["--learning_rate=1e6"])
  errors = [line for line in diverged.stderr.splitlines() if line.startswith("error:")]
  assert diverged.returncode == 2 and len(errors) == 1, diverged.stderr[-3000:]
  bad_step = int(errors[0].split("NaN or Inf at step ")[1].split(" ")[0])
  assert 1 < bad_step < 40
  # Every step before it was saved (interval 0), none from it on; the newest is finite.
  assert _latest_step(train_dir) == bad_step - 1
  assert f"Last good checkpoint: {train_dir}/ckpt-{bad_step - 1}." in errors[0]
  reader = tf.train.load_checkpoint(str(train_dir))
  for name in reader.get_variable_to_shape_map():
    value = reader.get_tensor(name)
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      assert np.all(np.isfinite(value)), name

  # Rerunning resumes from the last good checkpoint; here on 2 replicas, where the guard
  # stops the run as well and saves nothing new.
  again = _run(command + ["--learning_rate=1e6", "--cpu_replicas=2"])
  assert f"Resuming from {train_dir}/ckpt-{bad_step - 1} at step {bad_step - 1}" in again.stdout
  assert again.returncode == 2 and "NaN or Inf at step " in again.stderr, again.stderr[-3000:]
  assert _latest_step(train_dir) == bad_step - 1



HAND_WRITTEN_MENTORNET = """
import sys
import tensorflow as tf

class Mentor(tf.Module):  # Written without the mentornet package: only the README contract.
  def __init__(self):
    super().__init__()
    self.sharpness = tf.Variable(2.0, trainable=False)

  @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
  def __call__(self, features):
    return tf.sigmoid(-self.sharpness * features[:, 1:2])

mentor = Mentor()
tf.saved_model.save(mentor, sys.argv[1], signatures=mentor.__call__)
"""


def test_hand_written_tf_module_mentornet_trains_a_studentnet(tiny_cifar, tmp_path):
  mentor_dir, train_dir = tmp_path / "mentor", tmp_path / "train"
  saved = _run([sys.executable, "-c", HAND_WRITTEN_MENTORNET, str(mentor_dir)])
  assert saved.returncode == 0, saved.stderr[-3000:]
  trained = _run(_script("cifar_train_mentornet.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      f"--trained_mentornet_dir={mentor_dir}", "--max_number_of_steps=3", "--verbose=0",
      "--example_dropout_rates=0.0,100"])
  assert trained.returncode == 0, trained.stderr[-3000:]
  assert "Finished at step 3" in trained.stdout
  # Its weights reached the trust report: v = sigmoid(-2 (loss - moving average)), not all 1.
  import csv
  with open(train_dir / "trust_report.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 160
  weights = [float(r["trust"]) for r in rows]
  assert 0.0 < min(weights) < max(weights) < 1.0


def test_mentormix_trains_through_the_original_script(tiny_cifar, random_mentornet, tmp_path):
  train_dir = tmp_path / "train"
  trained = _run(_script("cifar_train_mentornet.py") + TINY_RESNET + [
      "--curriculum=mentormix", f"--data_dir={tiny_cifar / '0.4'}",
      f"--train_log_dir={train_dir}", "--batch_size=16", "--max_number_of_steps=3",
      f"--trained_mentornet_dir={random_mentornet}", "--mixup_alpha=2", "--verbose=0"])
  assert trained.returncode == 0, trained.stderr[-3000:]
  assert "Finished at step 3" in trained.stdout
  import json
  record = json.loads((train_dir / "train_config.json").read_text())
  assert record["curriculum"] == "mentormix"
  assert record["curriculum_settings"]["mixup_alpha"] == 2.0
  assert (train_dir / "trust_report.csv").exists()


def _moving_average(checkpoint_path):
  reader = tf.train.load_checkpoint(checkpoint_path)
  keys = [k for k in reader.get_variable_to_shape_map()
          if "loss_moving_average" in k and "OPTIMIZER" not in k]
  assert len(keys) == 1, keys
  return float(reader.get_tensor(keys[0]))


def test_mentornet_run_survives_three_kills_and_a_truncated_checkpoint(tiny_cifar,
                                                                      random_mentornet, tmp_path):
  train_dir = tmp_path / "train"
  base = _script("cifar_train_mentornet.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      f"--trained_mentornet_dir={random_mentornet}", "--loss_moving_average_decay=0.9",
      "--save_interval_secs=1", "--verbose=0"]
  killed = []
  for _ in range(3):  # Each kill lands after a checkpoint newer than the last kill's.
    killed.append(_kill_after_checkpoint(base + [ENDLESS], train_dir,
                                         min_step=(killed[-1] + 2) if killed else 6))
  assert killed == sorted(set(killed)) and killed[0] >= 6

  # Cut the newest checkpoint's data file short: the next start takes the one before it.
  paths = tf.train.get_checkpoint_state(str(train_dir)).all_model_checkpoint_paths
  newest, previous = paths[-1], paths[-2]
  previous_step = int(previous.rsplit("-", 1)[1])
  saved_average = _moving_average(previous)
  assert saved_average > 0.0
  data_file = pathlib.Path(newest + ".data-00000-of-00001")
  data_file.write_bytes(data_file.read_bytes()[:data_file.stat().st_size // 2])

  final = _run(base + [f"--max_number_of_steps={previous_step + 1}"])
  assert final.returncode == 0, final.stderr[-3000:]
  assert f"warning: checkpoint {newest} is unreadable" in final.stderr
  assert f"Resuming from {previous} at step {previous_step}" in final.stdout
  assert f"Finished at step {previous_step + 1}" in final.stdout
  # One step with decay 0.9 from the restored average a: 0.9 a + 0.1 percentile >= 0.9 a (a
  # reset to 0 would give 0.1 percentile, far below).
  final_average = _moving_average(tf.train.latest_checkpoint(str(train_dir)))
  assert final_average >= 0.9 * saved_average - 1e-6


def test_all_unreadable_checkpoints_refuse_to_restart_from_zero(tmp_path, capsys):
  from mentornet.training import checkpoints
  variable = tf.Variable(tf.range(100, dtype=tf.float32))
  checkpoint = tf.train.Checkpoint(v=variable)
  manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), 3, checkpoint_name="ckpt")
  for step in (1, 2):
    variable.assign_add(tf.ones([100]))
    manager.save(checkpoint_number=step)
  for step in (1, 2):
    data_file = tmp_path / f"ckpt-{step}.data-00000-of-00001"
    data_file.write_bytes(data_file.read_bytes()[:100])
  with pytest.raises(UsageError, match="no readable checkpoint in"):
    checkpoints.restore_newest_readable(checkpoint, str(tmp_path))
  assert capsys.readouterr().err.count("is unreadable") == 2
  # A readable checkpoint of another model is a mismatch, not a reason to fall back.
  tf.train.Checkpoint(v=tf.Variable(tf.zeros([3]))).save(str(tmp_path / "other" / "ckpt"))
  with pytest.raises(UsageError, match="does not match this model"):
    checkpoints.restore_newest_readable(checkpoint, str(tmp_path / "other"))


BAD_INPUT_DRIVER = """
import contextlib, importlib, io, json, sys
from absl import flags
entry, cases = sys.argv[1], json.loads(sys.argv[2])
module_name, define, main = entry.split(":")
module = importlib.import_module(module_name)
getattr(module, define)()
script = module_name
results = []
for argv in cases:
  flags.FLAGS.unparse_flags()
  flags.FLAGS([script] + argv)
  err = io.StringIO()
  code = 0
  with contextlib.redirect_stderr(err):
    try:
      getattr(module, main)([script])
    except SystemExit as e:
      code = e.code
  results.append([code, err.getvalue()])
print(json.dumps(results))
"""


# The mains behind the original scripts: module, flag definitions, main.
ENTRY_POINTS = {
    "cifar_train_baseline.py": "mentornet.cli.train:define_baseline_flags:baseline_main",
    "cifar_train_mentornet.py": "mentornet.cli.train:define_mentornet_flags:mentornet_main",
    "cifar_eval.py": "mentornet.cli.eval:define_flags:main",
}


def _run_cases(script, cases):
  """Runs the main behind a script on each argv in one process; returns [(exit code, stderr)]."""
  import json
  proc = _run([sys.executable, "-c", BAD_INPUT_DRIVER, ENTRY_POINTS[script], json.dumps(cases)])
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _check_one_error_line(code, stderr, fragment):
  errors = [line for line in stderr.splitlines() if line.startswith("error:")]
  assert code == 2, stderr[-2000:]
  assert len(errors) == 1 and fragment in errors[0], (fragment, stderr[-2000:])
  assert "\n" not in errors[0]


BASELINE_BAD_INPUTS = [
    (["--studentnet=vgg"], "unknown --studentnet='vgg'"),
    (["--dataset_name=imagenet"], "unknown --dataset_name='imagenet'"),
    (["--data_dir=/nonexistent/dir"], "has no files matching cifar10_train-*"),
    (["--ps_tasks=2"], "--ps_tasks=2"),
    (["--task=1"], "--task=1"),
    (["--resnet_widths=16,32"], "needs exactly 4 widths"),
    (["--max_number_of_steps=0"], "--max_number_of_steps must be positive"),
    (["--resnet_widths=16,160,80,640"], "must be positive and non-decreasing"),
    (["--num_gpus=-1"], "--num_gpus must be >= 0"),
    (["--device_id=gpu0"], "--device_id='gpu0' is not a comma-separated list of GPU ids"),
    (["--steps_per_execution=0"], "--steps_per_execution must be >= 1"),
    (["--intra_op_threads=-1"], "--intra_op_threads must be >= 0"),
]


def test_baseline_bad_inputs_fail_before_writing(tiny_cifar, tmp_path):
  train_dir = tmp_path / "train"
  common = TINY_RESNET + [f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}"]
  results = _run_cases("cifar_train_baseline.py",
                       [common + extra for extra, _ in BASELINE_BAD_INPUTS])
  for (code, stderr), (_, fragment) in zip(results, BASELINE_BAD_INPUTS):
    _check_one_error_line(code, stderr, fragment)
  assert not train_dir.exists()


MENTORNET_BAD_INPUTS = [
    (["--example_dropout_rates=0.5,17,0.05"], "pairs"),
    (["--example_dropout_rates=0.5,17,0.05,80"], "sum to 97"),
    (["--example_dropout_rates=1.5,100"], "outside [0, 1]"),
    (["--loss_p_percentile=0"], "outside (0, 1]"),
    (["--loss_p_precentile=1.5"], "outside (0, 1]"),
    (["--loss_moving_average_decay=1.2"], "outside [0, 1]"),
    (["--trained_mentornet_dir=/nonexistent/mentornet"], "does not exist"),
    (["--trained_mentornet_dir={empty}"], "not a MentorNet SavedModel"),
    (["--trained_mentornet_dir={data}"], "not a MentorNet SavedModel"),
    # A TF1 checkpoint prefix passes the flag check and reaches the loader, which reads it.
    (["--trained_mentornet_dir={prefix}"], "nor a MentorNet TF1 checkpoint: cannot read"),
    (["--curriculum=mentormix", "--mixup_alpha=-1"], "--mixup_alpha=-1"),
    (["--curriculum=mentormix", "--mentormix_weighting=soft"], "--mentormix_weighting='soft'"),
    (["--curriculum=mentormix", "--trained_mentornet_dir={empty}"], "not a MentorNet SavedModel"),
]


def test_mentornet_bad_inputs_leave_existing_dir_untouched(tiny_cifar, random_mentornet,
                                                            tmp_path):
  train_dir = tmp_path / "train"
  train_dir.mkdir()
  marker = train_dir / "ckpt-5.index"
  marker.write_text("existing work")
  (tmp_path / "empty").mkdir()
  (tmp_path / "model.ckpt-7.index").write_text("not a checkpoint index")
  common = TINY_RESNET + [f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}",
                          f"--trained_mentornet_dir={random_mentornet}"]
  cases = [common + [e.format(empty=tmp_path / "empty", data=tiny_cifar,
                              prefix=tmp_path / "model.ckpt-7") for e in extra]
           for extra, _ in MENTORNET_BAD_INPUTS]
  results = _run_cases("cifar_train_mentornet.py", cases)
  for (code, stderr), (_, fragment) in zip(results, MENTORNET_BAD_INPUTS):
    _check_one_error_line(code, stderr, fragment)
  assert sorted(p.name for p in train_dir.iterdir()) == ["ckpt-5.index"]
  assert marker.read_text() == "existing work"


def test_corrupt_record_stops_with_file_name_and_keeps_checkpoints(tiny_cifar, tmp_path):
  import shutil
  data_dir = tmp_path / "data"
  shutil.copytree(tiny_cifar / "0.4", data_dir)
  train_dir = tmp_path / "train"
  command = _script("cifar_train_baseline.py") + TINY_RESNET + [
      f"--data_dir={data_dir}", f"--train_log_dir={train_dir}", "--batch_size=16",
      "--verbose=0"]
  first = _run(command + ["--max_number_of_steps=2"])
  assert first.returncode == 0, first.stderr[-2000:]
  saved = sorted(p.name for p in train_dir.iterdir() if p.name.startswith("ckpt-"))
  victim = sorted(data_dir.glob("cifar10_train-*"))[1]
  blob = bytearray(victim.read_bytes())
  blob[len(blob) // 2:len(blob) // 2 + 64] = b"\xff" * 64
  victim.write_bytes(bytes(blob))
  second = _run(command + ["--max_number_of_steps=50"])
  _check_one_error_line(second.returncode, second.stderr, f"corrupt TFRecord file {victim}")
  assert sorted(p.name for p in train_dir.iterdir() if p.name.startswith("ckpt-")) == saved


DEVICE_ID_DRIVER = """
import json, os, sys
from absl import flags
from mentornet.cli import flags as flags_lib
flags_lib.define_data_and_model_flags()
seen = []
for inherited, argv in json.loads(sys.argv[1]):
  os.environ.pop("CUDA_VISIBLE_DEVICES", None)
  if inherited is not None:
    os.environ["CUDA_VISIBLE_DEVICES"] = inherited
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["x"] + argv)
  flags_lib.apply_device_id()
  seen.append(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
print(json.dumps(seen))
"""


def test_device_id_against_inherited_cuda_visible_devices():
  import json
  cases = [
      ("2,3", ["--device_id=1"], "1"),  # An explicit --device_id wins over the environment.
      ("2,3", [], "2,3"),  # The default keeps it (e.g. a scheduler's).
      (None, [], "<unset>"),  # And keeps every GPU visible when nothing restricts them.
  ]
  proc = _run([sys.executable, "-c", DEVICE_ID_DRIVER,
               json.dumps([[inherited, argv] for inherited, argv, _ in cases])])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert json.loads(proc.stdout.strip().splitlines()[-1]) == [c[2] for c in cases]
  assert "note: --device_id=1 replaces CUDA_VISIBLE_DEVICES=2,3" in proc.stdout
