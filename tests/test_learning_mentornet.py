"""Learning MentorNets: v* functions, data generation, training, StudentNet dump, visualizer,
and the acceptance checks of the shipped MentorNets (mentornet_models/models/)."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from mentornet.errors import UsageError
from mentornet.learning import checks
from mentornet.learning import generator
from mentornet.learning import vstar

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "code" / "training_mentornet"
MODELS = REPO_ROOT / "mentornet_models" / "models"
# Shipped predefined MentorNets: (directory, v* function, gamma).
SHIPPED_PREDEFINED = [
    ("baseline/baseline_mentornet", "vstar_baseline", None),
    ("self_paced/self_paced_mentornet", "vstar_self_paced", None),
    ("spcl_linear/spcl_linear_mentornet", "vstar_spcl_linear", 1.0),
    ("hard_example_mining/hard_example_mining_mentornet", "vstar_hard_example_mining", None),
    ("focal_loss/focal_loss_mentornet", "vstar_focal_loss", 2.0),
    ("mentornet_pd1_g_1/mentornet_pd", "vstar_mentornet_pd", 1.0),
]
SHIPPED_DD = "nl_0.2_percentile_90/mentornet_dd"


def run_script(name, *args, timeout=300):
  """Runs code/training_mentornet/<name> from a neutral directory without PYTHONPATH."""
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd="/", env=env,
                        capture_output=True, text=True, timeout=timeout)


def assert_one_line_usage_error(result, *fragments):
  assert result.returncode == 2, result.stderr[-2000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1, result.stderr[-2000:]
  for fragment in fragments:
    assert fragment in errors[0], errors[0]
  assert "Traceback" not in result.stderr
  return errors[0]


def features(*rows):
  return np.array(rows, np.float64)


@pytest.fixture(scope="module")
def load_mentornet():
  from mentornet.models import mentornet_net  # TensorFlow
  cache = {}

  def load(path):
    if path not in cache:
      cache[path] = mentornet_net.load_mentornet(str(path))
    return cache[path]

  return load


# ----------------------------------------------------------------------------- v* functions


def test_vstar_functions_on_hand_points():
  # (loss, loss_diff, label, epoch)
  points = features([0.5, -1.0, 0, 5], [0.5, 0.0, 0, 5], [2.0, 0.1, 0, 5], [3.0, 0.5, 1, 5])
  np.testing.assert_array_equal(vstar.get_vstar("vstar_baseline")(points), [1, 1, 1, 1])
  np.testing.assert_array_equal(vstar.get_vstar("vstar_self_paced")(points), [1, 1, 0, 0])
  # Hard example mining keeps every label > 0 example.
  np.testing.assert_array_equal(vstar.get_vstar("vstar_hard_example_mining")(points),
                                [0, 1, 1, 1])
  focal = vstar.get_vstar("vstar_focal_loss")
  np.testing.assert_allclose(focal(points), (1 - np.exp(-points[:, 0])) ** 2)  # gamma 2
  np.testing.assert_allclose(focal(points, 1.0), 1 - np.exp(-points[:, 0]))
  spcl = vstar.get_vstar("vstar_spcl_linear")
  np.testing.assert_allclose(spcl(points), [1.0, 1.0, 0.9, 0.5])  # gamma 1
  np.testing.assert_allclose(spcl(points, 2.0), [1.0, 1.0, 0.95, 0.75])
  np.testing.assert_allclose(spcl(features([1, 4.0, 0, 0]), 2.0), [0.0])


def test_mentornet_pd_epoch_boundaries():
  pd = vstar.get_vstar("vstar_mentornet_pd")
  diff_positive = [[2.0, 0.5, 0, e] for e in (0, 18, 19, 89, 90, 99)]
  # epoch <= 18: 1; 19..89: self-paced (diff 0.5 > 0 -> 0); >= 90: SPCL linear 1 - 0.5 / gamma.
  np.testing.assert_allclose(pd(features(*diff_positive)), [1, 1, 0, 0, 0.5, 0.5])
  np.testing.assert_allclose(pd(features(*diff_positive), 2.0), [1, 1, 0, 0, 0.75, 0.75])
  diff_negative = [[2.0, -0.5, 0, e] for e in (18, 19, 89, 90)]
  np.testing.assert_allclose(pd(features(*diff_negative)), [1, 1, 1, 1])
  np.testing.assert_array_equal(pd.binary_mask(features(*diff_positive)),
                                [True, True, True, True, False, False])


def test_registry_and_gamma_parsing():
  assert set(vstar.VSTAR_FUNCTIONS) == {
      "vstar_baseline", "vstar_self_paced", "vstar_hard_example_mining", "vstar_focal_loss",
      "vstar_spcl_linear", "vstar_mentornet_pd"}
  focal = vstar.get_vstar("vstar_focal_loss")
  assert vstar.parse_gamma("", focal) is None
  assert vstar.parse_gamma("3", focal) == 3.0
  for bad in ("x", "0", "-1"):
    with pytest.raises(UsageError, match="--vstar_gamma"):
      vstar.parse_gamma(bad, focal)
  with pytest.raises(UsageError, match="vstar_self_paced"):
    vstar.get_vstar("vstar_nope")


def test_input_grid():
  grid = generator.input_grid()
  assert grid.shape == (120 * 100 * 1 * 100, 4)
  losses, diffs, labels, epochs = (np.unique(grid[:, i]) for i in range(4))
  assert len(losses) == 120 and losses[0] == 0 and losses[99] == 9.9 and losses[-1] == 29
  assert len(diffs) == 100 and diffs[0] == -5 and diffs[-1] == 4.9 and 0.0 in diffs
  np.testing.assert_array_equal(labels, [0])
  np.testing.assert_array_equal(epochs, np.arange(100))


def test_predefined_dataset_files(tmp_path):
  outdir, info = generator.generate_predefined("vstar_focal_loss", str(tmp_path / "fl"),
                                               sample_size=1000, seed=3)
  train, test, read_info = generator.read_dataset(outdir)
  assert train.shape == (800, 5) and test.shape == (200, 5)
  assert info["vstar_gamma"] == 2.0 and read_info["vstar_fn"] == "vstar_focal_loss"
  both = np.concatenate([train, test])
  np.testing.assert_allclose(both[:, 4], (1 - np.exp(-both[:, 0])) ** 2)
  assert len({tuple(row) for row in both[:, :4]}) == 1000  # Sampled without replacement.
  again, _ = generator.make_predefined_dataset("vstar_focal_loss", 1000, None, seed=3)
  np.testing.assert_array_equal(again, train)
  # The original reader: plain pickle.load and .shape.
  import pickle
  with open(os.path.join(outdir, "tr.p"), "rb") as f:
    assert pickle.load(f).shape == (800, 5)


def write_dump(path, rows):
  path.write_text("".join(" ".join(str(x) for x in row) + "\n" for row in rows))
  return str(path)


def test_data_driven_from_small_csv(tmp_path):
  rows = [(i, 18, i % 3, (i % 3) if i % 4 else 9, 0.25 * i) for i in range(40)]
  csv_path = write_dump(tmp_path / "dump_small.csv", rows)
  written = generator.generate_data_driven(csv_path, str(tmp_path / "out"),
                                           percentiles=(50, 90), seed=1)
  assert [os.path.basename(d) for d, _ in written] == ["dump_small_percentile_50",
                                                       "dump_small_percentile_90"]
  losses = np.array([r[4] for r in rows])
  by_loss = {r[4]: float(r[2] == r[3]) for r in rows}
  for (directory, info), p in zip(written, (50, 90)):
    train, test, _ = generator.read_dataset(directory)
    assert train.shape == (32, 5) and test.shape == (8, 5)
    data = np.concatenate([train, test])
    np.testing.assert_allclose(sorted(data[:, 0]), sorted(losses))
    np.testing.assert_allclose(data[:, 1], data[:, 0] - np.percentile(losses, p))
    assert info["percentile_loss"] == pytest.approx(np.percentile(losses, p))
    np.testing.assert_array_equal(data[:, 2], 0)
    np.testing.assert_array_equal(data[:, 3], 18)
    np.testing.assert_array_equal(data[:, 4], [by_loss[l] for l in data[:, 0]])


@pytest.mark.parametrize("line, problem", [
    ("7 18 3 3", "expected 5 space-separated fields"),
    ("7 18 3 x 0.5", "clean_label 'x' is not a number"),
    ("7 100 3 3 0.5", "epoch 100 is outside 0..99"),
    ("7 18 3 3 nan", "loss is nan, not a finite number"),
    ("7 18 3 -1 0.5", "labels must be >= 0, got noisy 3 clean -1"),
])
def test_malformed_csv_names_line(tmp_path, line, problem):
  path = tmp_path / "bad.csv"
  path.write_text("1 18 2 2 0.5\n\n2 18 2 5 3.0\n" + line + "\n")
  with pytest.raises(UsageError) as error:
    generator.read_studentnet_dump(str(path))
  assert f"bad.csv:4: {problem}" in str(error.value)


def test_empty_and_missing_csv(tmp_path):
  empty = tmp_path / "empty.csv"
  empty.write_text("\n# nothing\n")
  with pytest.raises(UsageError, match="holds no rows"):
    generator.read_studentnet_dump(str(empty))
  with pytest.raises(UsageError, match="does not exist"):
    generator.read_studentnet_dump(str(tmp_path / "missing.csv"))
  with pytest.raises(UsageError, match="--input_csv_filename is required"):
    generator.read_studentnet_dump("")


def test_data_generator_cli_errors(tmp_path):
  result = run_script("data_generator.py", "--vstar_fn=vstar_nope", f"--outdir={tmp_path}")
  assert_one_line_usage_error(result, "unknown --vstar_fn='vstar_nope'", "vstar_self_paced",
                              "data_driven")
  bad = tmp_path / "bad.csv"
  bad.write_text("1 18 2 2 0.5\n2 18 2\n")
  result = run_script("data_generator.py", "--vstar_fn=data_driven",
                      f"--input_csv_filename={bad}", f"--outdir={tmp_path / 'dd'}")
  assert_one_line_usage_error(result, "bad.csv:2:", "expected 5")
  assert not (tmp_path / "dd").exists()


# ----------------------------------------------------------------------------- training


def test_tiny_train_run_exports_a_mentornet(tmp_path, load_mentornet):
  data_dir = tmp_path / "data"
  result = run_script("data_generator.py", "--vstar_fn=vstar_self_paced", "--sample_size=2000",
                      f"--outdir={data_dir}")
  assert result.returncode == 0, result.stderr[-2000:]
  train_dir = tmp_path / "train"
  result = run_script("train.py", f"--train_dir={train_dir}", f"--data_path={data_dir}",
                      "--max_step_train=300")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "tr_loss=" in result.stdout and "ts_loss=" in result.stdout
  metrics = json.loads((train_dir / "metrics.json").read_text())
  assert metrics["steps"] == 300 and metrics["is_binary_label"]
  assert metrics["num_train"] == 1600 and metrics["num_test"] == 400
  assert 0.5 < metrics["test_agreement"] <= 1.0
  assert {"final_train_loss", "final_test_loss", "test_mse", "seconds", "seed"} <= set(metrics)
  mentornet = load_mentornet(train_dir)  # The contract check of --trained_mentornet_dir.
  v = np.asarray(mentornet(np.zeros([3, 4], np.float32)))
  assert v.shape == (3, 1) and np.all((v >= 0) & (v <= 1))
  assert list(mentornet.trainable_variables) == []


def test_train_requires_data(tmp_path):
  result = run_script("train.py", f"--train_dir={tmp_path / 't'}", "--data_path=")
  assert_one_line_usage_error(result, "--data_path is required")
  (tmp_path / "empty").mkdir()
  result = run_script("train.py", f"--train_dir={tmp_path / 't'}",
                      f"--data_path={tmp_path / 'empty'}")
  assert_one_line_usage_error(result, "has no tr.p")


# ----------------------------------------------------------------------------- visualizer


def test_visualizer_writes_frames_and_gif(tmp_path, load_mentornet):
  import imageio.v3 as iio

  from mentornet.learning import visualize
  model = load_mentornet(MODELS / "mentornet_pd1_g_1" / "mentornet_pd")
  pngs, gif = visualize.visualize_mentornet(model, str(tmp_path), loss_bound=5,
                                            epoch_ranges=[0, 18, 95], log=lambda _: None)
  assert [os.path.basename(p) for p in pngs] == ["epoch_0.png", "epoch_18.png", "epoch_95.png"]
  shapes = {iio.imread(p).shape[:2] for p in pngs}
  assert len(shapes) == 1
  frames = iio.imread(gif, index=None)
  assert frames.shape[0] == 3 and frames.shape[1:3] == shapes.pop()


def test_visualizer_rejects_a_dir_without_mentornet(tmp_path):
  result = run_script("visualizer.py", f"--model_dir={tmp_path}", f"--output_dir={tmp_path}")
  assert_one_line_usage_error(result, f"--model_dir={tmp_path}", "not a MentorNet")


# ----------------------------------------------------------------------------- StudentNet dump


def test_studentnet_dump(tmp_path):
  import tensorflow as tf

  from mentornet.data import records
  from mentornet.learning import studentnet_dump
  from mentornet.models import studentnets
  rng = np.random.default_rng(0)
  n = 12
  images = rng.integers(0, 256, [n, 32, 32, 3], dtype=np.uint8)
  noisy = rng.integers(0, 10, n)
  clean = np.where(np.arange(n) % 3 == 0, (noisy + 1) % 10, noisy)
  data_dir = tmp_path / "data"
  records.write_shards(str(data_dir), "cifar10", "train",
                       {"image": images, "label": noisy, "clean_label": clean,
                        "id": np.arange(100, 100 + n)}, num_shards=2)
  config = studentnets.StudentNetConfig(num_residual_units=1, resnet_widths=(4, 4, 4, 4),
                                        sync_batch_norm=False)
  student = studentnets.build_studentnet("resnet101", 10, config)
  train_dir = tmp_path / "train"
  tf.train.Checkpoint(student=student).write(str(train_dir / "ckpt-37"))
  tf.train.CheckpointManager(tf.train.Checkpoint(student=student), str(train_dir), 3,
                             checkpoint_name="ckpt").save(checkpoint_number=90)
  (train_dir / "train_config.json").write_text(json.dumps(
      {"studentnet": "resnet101", "dataset_name": "cifar10", "num_residual_units": 1,
       "resnet_widths": [4, 4, 4, 4], "max_number_of_steps": 200}))
  settings = studentnet_dump.resolve_settings(str(train_dir))
  assert settings.max_number_of_steps == 200 and settings.resnet_widths == (4, 4, 4, 4)
  out = tmp_path / "dump.csv"
  summary = studentnet_dump.dump_studentnet(str(train_dir), str(data_dir), str(out), settings,
                                            subset_fraction=0.5, seed=1, batch_size=5,
                                            batch_norm_mode="inference", log=lambda _: None)
  rows = generator.read_studentnet_dump(str(out))
  assert summary["epochs"] == [45] and rows.shape == (6, 5)
  np.testing.assert_array_equal(rows[:, 1], 45)  # floor(90 / 200 * 100)
  ids = rows[:, 0].astype(int) - 100
  np.testing.assert_array_equal(rows[:, 2], noisy[ids])
  np.testing.assert_array_equal(rows[:, 3], clean[ids])
  x = tf.image.per_image_standardization(tf.cast(images[ids], tf.float32))
  expected = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=noisy[ids], logits=student(x, training=False)).numpy()
  np.testing.assert_allclose(rows[:, 4], expected, atol=2e-6)
  # By default, as the original's extraction, batch norm uses each batch's statistics: one
  # batch of all 12 examples here, so the order within it does not matter.
  studentnet_dump.dump_studentnet(str(train_dir), str(data_dir), str(out), settings,
                                  subset_fraction=0.5, seed=1, batch_size=n, log=lambda _: None)
  train_rows = generator.read_studentnet_dump(str(out))
  np.testing.assert_array_equal(train_rows[:, :4], rows[:, :4])
  everything = tf.image.per_image_standardization(tf.cast(images, tf.float32))
  in_training = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=noisy, logits=student(everything, training=True)).numpy()
  np.testing.assert_allclose(train_rows[:, 4], in_training[ids], atol=2e-6)
  assert np.max(np.abs(train_rows[:, 4] - rows[:, 4])) > 1e-3
  with pytest.raises(UsageError, match="contradicts the run's train_config.json"):
    studentnet_dump.resolve_settings(str(train_dir), num_residual_units=2)
  with pytest.raises(UsageError, match="no checkpoint at step 5"):
    studentnet_dump.select_checkpoints(str(train_dir), [5])
  # Records without clean labels are refused.
  plain_dir = tmp_path / "plain"
  records.write_shards(str(plain_dir), "cifar10", "train", {"image": images, "label": noisy},
                       num_shards=1)
  with pytest.raises(UsageError, match="no clean label"):
    studentnet_dump.dump_studentnet(str(train_dir), str(plain_dir), str(out), settings,
                                    log=lambda _: None)


# ----------------------------------------------------------------------------- shipped models


def test_command_script_reproduces_all_seven(tmp_path):
  script = REPO_ROOT / "commands" / "training_mentornet_command.sh"
  assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
  env = dict(os.environ, DRY_RUN="1", PYTHON="python3")
  result = subprocess.run(["bash", str(script), str(tmp_path / "out"), str(tmp_path / "s")],
                          env=env, capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  exports = sorted(word.split("=", 1)[1] for line in result.stdout.splitlines()
                   for word in line.split() if word.startswith("--export_dir="))
  expected = sorted(str(tmp_path / "out" / d) for d in
                    [d for d, _, _ in SHIPPED_PREDEFINED] + [SHIPPED_DD])
  assert exports == expected
  assert "dump_studentnet.py" in result.stdout and "--vstar_fn=data_driven" in result.stdout
  assert not (tmp_path / "out").exists()


def test_shipped_models_layout():
  for directory in [d for d, _, _ in SHIPPED_PREDEFINED] + [SHIPPED_DD]:
    path = MODELS / directory
    assert (path / "saved_model.pb").is_file(), path
    assert (path / "variables" / "variables.index").is_file(), path
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["steps"] > 0 and metrics["final_test_loss"] >= 0
    assert not list(path.glob("ckpt-*")) and not (path / "tr.p").exists()


@pytest.mark.parametrize("directory, vstar_fn, gamma", SHIPPED_PREDEFINED,
                         ids=[v for _, v, _ in SHIPPED_PREDEFINED])
def test_shipped_predefined_mentornet_matches_its_vstar(directory, vstar_fn, gamma,
                                                       load_mentornet):
  result = checks.check_against_vstar(load_mentornet(MODELS / directory), vstar_fn, gamma,
                                      num_points=50000)
  if result["agreement"] is not None:
    assert result["agreement"] >= checks.MIN_AGREEMENT, result
  if result["mse"] is not None:
    assert result["mse"] <= checks.MAX_MSE, result
  assert result["passed"]


def test_shipped_dd_mentornet_downweights_large_losses_late(load_mentornet):
  model = load_mentornet(MODELS / SHIPPED_DD)
  metrics = json.loads((MODELS / SHIPPED_DD / "metrics.json").read_text())
  moving_average = metrics["dataset_info"]["percentile_loss"]
  losses = np.linspace(0.0, 10.0, 201)
  for epoch in (18, 90, 99):
    v = checks.loss_sweep(model, epoch, moving_average, losses)
    assert np.all(np.diff(v) <= 1e-6), (epoch, v)
    assert v[0] - v[-1] > 0.5, (epoch, v[0], v[-1])
