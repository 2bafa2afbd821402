"""The training and evaluation scripts end to end: resume after kill, eval CSV, bad inputs."""
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from conftest import CODE_DIR, subprocess_env

TINY_RESNET = ["--studentnet=resnet101", "--num_residual_units=1", "--resnet_widths=8,8,16,16"]


def _script(name):
  return [sys.executable, str(CODE_DIR / name)]


def _run(args, timeout=300):
  return subprocess.run(args, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def random_mentornet(tmp_path_factory):
  from mentornet import mentornet_net  # pylint: disable=import-outside-toplevel
  path = str(tmp_path_factory.mktemp("mentornet") / "saved")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=2), path)
  return path


def _latest_step(train_dir):
  path = tf.train.latest_checkpoint(str(train_dir))
  return int(path.rsplit("-", 1)[1]) if path else 0


def test_baseline_resumes_after_kill_and_eval_writes_csv(tiny_cifar, tmp_path):
  train_dir = tmp_path / "train"
  command = _script("cifar_train_baseline.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      "--max_number_of_steps=60", "--save_interval_secs=1", "--verbose=2"]
  proc = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and _latest_step(train_dir) < 20:
      time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
  finally:
    proc.kill()
  killed_at = _latest_step(train_dir)
  assert 0 < killed_at < 60, killed_at

  resumed = _run(command)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"Resuming from {train_dir}/ckpt-{killed_at} at step {killed_at}" in resumed.stdout
  assert "Finished at step 60" in resumed.stdout
  assert _latest_step(train_dir) == 60

  csv_path = tmp_path / "eval" / "accuracy.csv"
  eval_command = _script("cifar_eval.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / 'val'}", f"--checkpoint_dir={train_dir}",
      f"--eval_dir={tmp_path / 'eval'}", f"--output_csv_file={csv_path}", "--run_once"]
  evaluated = _run(eval_command)
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  rows = csv_path.read_text().strip().splitlines()
  assert rows[0] == "global_step,accuracy,loss"
  step, accuracy, loss = rows[1].split(",")
  assert int(step) == 60 and 0.0 <= float(accuracy) <= 1.0 and float(loss) > 0
  assert list((tmp_path / "eval").glob("events.out.tfevents.*"))
  # A second look finds nothing new: each checkpoint is evaluated once.
  again = _run(eval_command)
  assert again.returncode == 0 and len(csv_path.read_text().strip().splitlines()) == 2


def test_mentornet_resume_restores_moving_average(tiny_cifar, random_mentornet, tmp_path):
  from mentornet import curriculum, training_loop  # pylint: disable=import-outside-toplevel
  train_dir = tmp_path / "train"
  base = _script("cifar_train_mentornet.py") + TINY_RESNET + [
      f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}", "--batch_size=16",
      f"--trained_mentornet_dir={random_mentornet}", "--loss_p_precentile=0.75",
      "--verbose=0"]
  first = _run(base + ["--max_number_of_steps=6"])
  assert first.returncode == 0, first.stderr[-3000:]
  reader = tf.train.load_checkpoint(str(train_dir))
  keys = [k for k in reader.get_variable_to_shape_map() if "curriculum/" in k and
          "OPTIMIZER" not in k]
  assert len(keys) == 1, keys
  saved_average = float(reader.get_tensor(keys[0]))
  assert saved_average > 0.0  # it moved away from its initial 0

  # Restoring into a freshly built trainer gives back exactly the saved moving average.
  config = training_loop.TrainConfig(train_log_dir=str(train_dir), data_dir=str(tiny_cifar / "0.4"),
                                     curriculum="mentornet", batch_size=16, max_number_of_steps=6,
                                     num_residual_units=1, resnet_widths=(8, 8, 16, 16))
  from mentornet import mentornet_net  # pylint: disable=import-outside-toplevel
  mentornet = mentornet_net.load_mentornet(random_mentornet)
  model = training_loop.build_trainer(
      config, tf.distribute.get_strategy(), 10, 160,
      lambda **_: curriculum.MentorNetCurriculum(mentornet, name="curriculum"))
  training_loop.make_checkpoint(model).restore(
      tf.train.latest_checkpoint(str(train_dir))).assert_existing_objects_matched()
  assert float(model.curriculum.loss_moving_average.numpy()) == saved_average
  assert int(model.optimizer.iterations.numpy()) == 6

  second = _run(base + ["--max_number_of_steps=9"])
  assert second.returncode == 0, second.stderr[-3000:]
  assert "at step 6" in second.stdout and "Finished at step 9" in second.stdout


BAD_INPUT_DRIVER = """
import contextlib, io, json, runpy, sys
from absl import flags
script, cases = sys.argv[1], json.loads(sys.argv[2])
module = runpy.run_path(script, run_name="not_main")
results = []
for argv in cases:
  flags.FLAGS.unparse_flags()
  flags.FLAGS([script] + argv)
  err = io.StringIO()
  code = 0
  with contextlib.redirect_stderr(err):
    try:
      module["main"]([script])
    except SystemExit as e:
      code = e.code
  results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def _run_cases(script, cases):
  """Runs `main` of a script on each argv in one process; returns [(exit code, stderr)]."""
  import json  # pylint: disable=import-outside-toplevel
  proc = _run([sys.executable, "-c", BAD_INPUT_DRIVER, str(CODE_DIR / script),
               json.dumps(cases)])
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
]


def test_mentornet_bad_inputs_leave_existing_dir_untouched(tiny_cifar, random_mentornet,
                                                            tmp_path):
  train_dir = tmp_path / "train"
  train_dir.mkdir()
  marker = train_dir / "ckpt-5.index"
  marker.write_text("existing work")
  (tmp_path / "empty").mkdir()
  common = TINY_RESNET + [f"--data_dir={tiny_cifar / '0.4'}", f"--train_log_dir={train_dir}",
                          f"--trained_mentornet_dir={random_mentornet}"]
  cases = [common + [e.format(empty=tmp_path / "empty", data=tiny_cifar) for e in extra]
           for extra, _ in MENTORNET_BAD_INPUTS]
  results = _run_cases("cifar_train_mentornet.py", cases)
  for (code, stderr), (_, fragment) in zip(results, MENTORNET_BAD_INPUTS):
    _check_one_error_line(code, stderr, fragment)
  assert sorted(p.name for p in train_dir.iterdir()) == ["ckpt-5.index"]
  assert marker.read_text() == "existing work"


def test_corrupt_record_stops_with_file_name_and_keeps_checkpoints(tiny_cifar, tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel
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
