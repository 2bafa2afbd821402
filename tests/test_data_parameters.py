"""Data parameters: logit scaling, the sparse momentum update (NumPy reference), replicas,
flags and a tiny end-to-end `cifar_train_mentornet.py --curriculum=data_parameters` run."""
import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import subprocess_env
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import data_parameters as dp
from mentornet.data import records
from mentornet.errors import UsageError
from mentornet.training import trainer as trainer_lib
import numpy_reference

NUM_CLASSES = 6
NUM_EXAMPLES = 12
BATCH = 6
LOG_MIN, LOG_MAX = math.log(1 / 20), math.log(20)


def _linear_student(seed=0):
  rng = np.random.default_rng(seed)
  student = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(NUM_CLASSES)])
  student.layers[-1].kernel.assign((0.8 * rng.normal(size=(12, NUM_CLASSES))).astype(np.float32))
  student.layers[-1].bias.assign((0.1 * rng.normal(size=NUM_CLASSES)).astype(np.float32))
  return student


def _batch(labels, ids, seed):
  images = np.random.default_rng(seed).normal(size=(len(labels), 2, 2, 3)).astype(np.float32)
  labels = np.asarray(labels, np.int32)
  features = {"image": images, "id": np.asarray(ids, np.int64), "clean_label": labels}
  return features, labels


def _fit_one_step(model, batch):
  return model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, steps_per_epoch=1, verbose=0,
                   shuffle=False)


def _trainer(curriculum, student=None):
  model = trainer_lib.StudentTrainer(student or _linear_student(), curriculum, max_steps=10)
  model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
  return model


def _state(curriculum):
  return {name: getattr(curriculum, name).numpy().copy()
          for name in ("log_class_sigma", "class_velocity", "log_inst_sigma", "inst_velocity")}


def _reference_step(student, batch, state, settings):
  """NumPy: one data-parameter update (authors' SparseSGD, per-example L2, clamp)."""
  features, labels = batch
  ids = features["id"]
  w, b = (v.numpy().astype(np.float64) for v in student.layers[-1].weights)
  logits = features["image"].reshape(len(labels), -1) @ w + b
  sigma_class = np.exp(state["log_class_sigma"][labels].astype(np.float64))
  sigma_inst = np.exp(state["log_inst_sigma"][ids].astype(np.float64))
  sigma = sigma_class + sigma_inst
  scaled = logits / sigma[:, None]
  p = np.exp(scaled - scaled.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  d_sigma = (logits[np.arange(len(labels)), labels] - (p * logits).sum(1)) / sigma**2
  d_sigma /= len(labels)  # mean over the batch
  new = {name: value.copy() for name, value in state.items()}
  for kind, rows, d_log in (("class", labels, d_sigma * sigma_class),
                            ("inst", ids, d_sigma * sigma_inst)):
    log_sigma, velocity = state[f"log_{kind}_sigma"], state[f"{kind}_velocity"]
    grad = np.zeros(len(log_sigma))
    np.add.at(grad, rows, d_log)
    present = np.unique(rows)
    counts = np.bincount(rows, minlength=len(log_sigma))
    grad += getattr(settings, f"wd_{kind}_param") * counts * log_sigma
    new_velocity = 0.9 * velocity + grad
    new_log = np.clip(log_sigma - getattr(settings, f"lr_{kind}_param") * new_velocity,
                      LOG_MIN, LOG_MAX)
    new[f"{kind}_velocity"][present] = new_velocity[present]
    new[f"log_{kind}_sigma"][present] = new_log[present]
  return new


def test_scale_logits_divides_by_effective_sigma():
  logits = tf.constant([[2.0, -1.0, 0.5], [4.0, 0.0, -2.0]])
  labels = tf.constant([1, 2])
  features = {"id": tf.constant([3, 0], tf.int64)}
  alone = dp.DataParametersCurriculum(3, 5, dp.DataParametersSettings(
      learn_class_parameters=True, init_class_param=2.0))
  np.testing.assert_allclose(alone.scale_logits(logits, labels, features), logits / 2.0,
                             rtol=1e-6)
  inst = dp.DataParametersCurriculum(3, 5, dp.DataParametersSettings(learn_inst_parameters=True))
  assert inst.settings.resolved_init_inst_param == 1.0
  inst.log_inst_sigma.assign(np.log([1.0, 1.0, 1.0, 4.0, 1.0]).astype(np.float32))
  np.testing.assert_allclose(inst.scale_logits(logits, labels, features),
                             [[0.5, -0.25, 0.125], [4.0, 0.0, -2.0]], rtol=1e-6)
  joint = dp.DataParametersCurriculum(3, 5, dp.DataParametersSettings(True, True))
  assert joint.settings.resolved_init_inst_param == dp.JOINT_INIT_INST_PARAM  # the paper's
  joint.log_class_sigma.assign(np.log([1.0, 1.5, 3.0]).astype(np.float32))
  joint.log_inst_sigma.assign(np.log([0.5, 1.0, 1.0, 0.5, 1.0]).astype(np.float32))
  expected_sigma = np.array([1.5 + 0.5, 3.0 + 0.5])
  np.testing.assert_allclose(joint.scale_logits(logits, labels, features),
                             logits.numpy() / expected_sigma[:, None], rtol=1e-6)
  np.testing.assert_allclose(joint.trust_scores(labels, features["id"]), -expected_sigma,
                             rtol=1e-6)
  v, logs = joint.example_weights(tf.ones([2]), labels, features, None)
  np.testing.assert_array_equal(v, [1.0, 1.0])
  assert float(logs["batch_sigma_mean"]) == pytest.approx(expected_sigma.mean())
  assert float(logs["class_sigma_mean"]) == pytest.approx(11 / 6)


def test_init_sigma_one_recovers_plain_cross_entropy():
  batch = _batch([0, 1, 1, 3, 5, 2], np.arange(BATCH), seed=1)
  plain = _trainer(curriculum_lib.NoCurriculum())
  data_params = _trainer(dp.DataParametersCurriculum(
      NUM_CLASSES, NUM_EXAMPLES, dp.DataParametersSettings(learn_class_parameters=True)))
  logs = []
  for model in (plain, data_params):
    logs.append(_fit_one_step(model, batch).history)
  assert logs[0]["orig_loss"][0] == pytest.approx(logs[1]["orig_loss"][0], rel=1e-6)
  for a, b in zip(plain.student.weights, data_params.student.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_sparse_momentum_update_matches_numpy_and_skips_absent_rows():
  settings = dp.DataParametersSettings(
      learn_class_parameters=True, learn_inst_parameters=True, lr_class_param=0.5,
      lr_inst_param=2.0, wd_class_param=0.01, wd_inst_param=0.002)
  curriculum = dp.DataParametersCurriculum(NUM_CLASSES, NUM_EXAMPLES, settings)
  model = _trainer(curriculum)
  assert [v.name for v in curriculum.curriculum_variables] == ["log_class_sigma",
                                                               "log_inst_sigma"]
  assert not curriculum.trainable_weights  # the Keras optimizer never sees them
  # Step 1: classes {0, 1, 2} (class 1 twice) and instances 0..5.
  first = _batch([0, 1, 1, 2, 0, 2], [0, 1, 2, 3, 4, 5], seed=2)
  state0 = _state(curriculum)
  expected1 = _reference_step(model.student, first, state0, settings)
  _fit_one_step(model, first)
  state1 = _state(curriculum)
  for name in state1:
    np.testing.assert_allclose(state1[name], expected1[name], rtol=2e-5, atol=1e-6,
                               err_msg=name)
  # The joint instance init 0.001 is below the clamp: lifted to 1/20 at the first update.
  np.testing.assert_allclose(state1["log_inst_sigma"][:6], LOG_MIN, rtol=1e-6)
  assert np.all(state1["class_velocity"][:3] != 0) and np.all(state1["inst_velocity"][:6] != 0)

  # Step 2: classes {2, 3, 4}, instances 3..8 (one repeated).
  second = _batch([2, 3, 4, 2, 3, 4], [3, 4, 5, 6, 7, 7], seed=3)
  expected2 = _reference_step(model.student, second, state1, settings)
  _fit_one_step(model, second)
  state2 = _state(curriculum)
  for name in state2:
    np.testing.assert_allclose(state2[name], expected2[name], rtol=2e-5, atol=1e-6,
                               err_msg=name)
  # Absent classes 0, 1 and instances 0..2 keep their value AND momentum buffer from step 1.
  for name, absent in (("class", [0, 1, 5]), ("inst", [0, 1, 2, 8, 9, 10, 11])):
    np.testing.assert_array_equal(state2[f"log_{name}_sigma"][absent],
                                  state1[f"log_{name}_sigma"][absent])
    np.testing.assert_array_equal(state2[f"{name}_velocity"][absent],
                                  state1[f"{name}_velocity"][absent])
  # Present ones moved.
  assert np.all(state2["class_velocity"][[2, 3, 4]] != state1["class_velocity"][[2, 3, 4]])
  assert np.all(state2["inst_velocity"][3:8] != state1["inst_velocity"][3:8])
  assert np.all(state2["log_class_sigma"][[2, 3, 4]] != state1["log_class_sigma"][[2, 3, 4]])


MIRRORED_SCRIPT = r"""
import numpy as np, keras, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mentornet.curricula import data_parameters as dp
from mentornet.training import trainer as trainer_lib
rng = np.random.default_rng(0)
images = rng.normal(size=(3, 8, 2, 2, 3)).astype(np.float32)
labels = np.array([[0, 1, 2, 3, 0, 1, 2, 3], [2, 3, 4, 5, 2, 3, 4, 5], [0] * 4 + [1] * 4], np.int32)
ids = np.array([np.arange(8), np.arange(4, 12), [3, 3, 0, 0, 19, 19, 3, 3]], np.int64)
kernel = rng.normal(size=(12, 6)).astype(np.float32)
settings = dp.DataParametersSettings(True, True, lr_inst_param=0.5, wd_class_param=0.01,
                                     wd_inst_param=0.01, skip_clamp_data_param=True)
def run(strategy):
  with strategy.scope():
    student = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(),
                                keras.layers.Dense(6)])
    student.layers[-1].kernel.assign(kernel)
    curriculum = dp.DataParametersCurriculum(6, 20, settings)
    model = trainer_lib.StudentTrainer(student, curriculum, max_steps=10)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
  data = tf.data.Dataset.from_tensor_slices(
      ({"image": images, "id": ids, "clean_label": labels}, labels))
  model.fit(data, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)
  return [v.numpy() for v in curriculum.weights + [student.layers[-1].kernel]]
single = run(tf.distribute.get_strategy())
mirrored = run(tf.distribute.MirroredStrategy(
    ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()))
assert mirrored[0].shape == (6,) and np.any(single[3] != 0)
for a, b in zip(single, mirrored):
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
print("MATCH")
"""


def test_two_replicas_match_one_device(repo_root):
  """Under MirroredStrategy the all-reduced sparse update equals the single-device one."""
  result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0 and "MATCH" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("kwargs,fragment", [
    ({}, "--learn_class_parameters and/or --learn_inst_parameters"),
    ({"learn_class_parameters": True, "lr_class_param": 0.0}, "--lr_class_param must be positive"),
    ({"learn_inst_parameters": True, "lr_inst_param": -1.0}, "--lr_inst_param must be positive"),
    ({"learn_class_parameters": True, "wd_class_param": -1e-4}, "--wd_class_param must be non"),
    ({"learn_class_parameters": True, "wd_inst_param": float("nan")}, "--wd_inst_param must be"),
    ({"learn_class_parameters": True, "init_class_param": 0.0}, "--init_class_param must be"),
    ({"learn_inst_parameters": True, "init_inst_param": -0.5}, "--init_inst_param must be"),
    ({"learn_inst_parameters": True, "clamp_inst_sigma_min": 2.0, "clamp_inst_sigma_max": 1.0},
     "0 < min < max"),
])
def test_settings_validation(kwargs, fragment):
  with pytest.raises(UsageError) as info:
    dp.DataParametersSettings(**kwargs).validate()
  assert fragment in str(info.value) and "\n" not in str(info.value)


def test_records_without_ids_are_refused(tmp_path):
  images = np.zeros((4, 32, 32, 3), np.uint8)
  shards = records.write_shards(str(tmp_path), "cifar10", "train",
                                {"image": images, "label": np.arange(4)}, 1)
  with pytest.raises(UsageError, match="original format"):
    dp.check_example_ids([s.path for s in shards], 4)
  shards = records.write_shards(str(tmp_path / "ok"), "cifar10", "train",
                                {"image": images, "label": np.arange(4),
                                 "id": np.array([2, 0, 3, 1])}, 2)
  dp.check_example_ids([s.path for s in shards], 4)
  with pytest.raises(UsageError, match="permutation"):
    dp.check_example_ids([s.path for s in shards], 5)
  curriculum = dp.DataParametersCurriculum(3, 4, dp.DataParametersSettings(
      learn_inst_parameters=True))
  with pytest.raises(tf.errors.InvalidArgumentError, match="example ids"):
    curriculum.scale_logits(tf.zeros([2, 3]), tf.constant([0, 1]),
                            {"id": tf.constant([-1, 0], tf.int64)})


# ---------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def noisy_data_dir(tiny_cifar):
  return tiny_cifar / "0.4"


def _train(repo_root, *args):
  return subprocess.run(
      [sys.executable, str(repo_root / "code" / "cifar_train_mentornet.py"),
       "--curriculum=data_parameters", "--num_residual_units=1", "--resnet_widths=8,8,16,16",
       "--batch_size=16", "--verbose=0", "--device_id=", *args],
      env=subprocess_env(), capture_output=True, text=True, timeout=180)


def test_end_to_end_training_writes_trust_report(repo_root, noisy_data_dir, tmp_path):
  log_dir = tmp_path / "train"
  result = _train(repo_root, "--learn_class_parameters", "--learn_inst_parameters",
                  "--lr_inst_param=0.2", "--wd_class_param=5e-4", "--max_number_of_steps=10",
                  f"--data_dir={noisy_data_dir}", f"--train_log_dir={log_dir}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Finished at step 10" in result.stdout and "trust report (data_parameters" in result.stdout
  config = json.loads((log_dir / "train_config.json").read_text())
  assert config["curriculum"] == "data_parameters"
  assert config["curriculum_settings"]["init_inst_param"] == dp.JOINT_INIT_INST_PARAM
  lines = (log_dir / "trust_report.csv").read_text().splitlines()
  # The trust report's first columns; the training dynamics' and the flagged set's follow.
  assert lines[0].startswith("example_id,given_label,clean_label,trust,rank,loss,")
  rows = [line.split(",") for line in lines[1:]]
  assert [int(r[0]) for r in rows] == list(range(160))
  assert sorted(int(r[4]) for r in rows) == list(range(1, 161))
  assert all(float(r[3]) < 0 for r in rows)  # trust = -sigma
  summary = json.loads((log_dir / "trust_report_summary.json").read_text())
  assert summary["trust_source"] == "data_parameters" and summary["global_step"] == 10
  noise_rate, auc = numpy_reference.trust_report_check(log_dir / "trust_report.csv")
  assert summary["num_examples"] == 160 and summary["noise_rate"] == pytest.approx(noise_rate)
  assert summary["noise_detection_roc_auc"] == pytest.approx(auc, abs=1e-3)
  assert set(summary["corrupted_fraction_among_least_trusted"]) == {"0.05", "0.1", "0.2", "0.4"}


def test_bad_data_parameter_flags_exit_2_and_write_nothing(repo_root, noisy_data_dir, tmp_path):
  """One subprocess (each costs a TensorFlow import); the other cases are checked in-process."""
  log_dir = tmp_path / "never"
  result = _train(repo_root, "--learn_inst_parameters", "--wd_inst_param=-0.1",
                  f"--data_dir={noisy_data_dir}", f"--train_log_dir={log_dir}")
  assert result.returncode == 2, result.stderr[-2000:]
  error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert error_lines == ["error: --wd_inst_param must be non-negative, got -0.1"], \
      result.stderr[-2000:]
  assert not log_dir.exists() and "Traceback" not in result.stderr
