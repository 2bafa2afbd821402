"""One precision per run (issue 18): float32 logits under every policy; the recorded policy is
used by the eval job, the trust report, the StudentNet dump and resume; a mixed_float16 run
whose steps are all skipped stops."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_tiny_noisy_cifar
from mentornet.analysis import evaluation
from mentornet.analysis import trust_report
from mentornet.config import train_config
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import factory as curriculum_factory
from mentornet.data import pipeline as data_lib
from mentornet.errors import NonFiniteLossError
from mentornet.learning import studentnet_dump
from mentornet.models import studentnets
from mentornet.training import callbacks as callbacks_lib
from mentornet.training import checkpoints
from mentornet.training import loop as training_loop
from mentornet.training import precision
from mentornet.training import trainer as trainer_lib

TINY = dict(num_residual_units=1, resnet_widths=(8, 8, 16, 16))


def _baseline(**unused):
  return curriculum_lib.NoCurriculum(name="curriculum")


# ---------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("studentnet", ["resnet101", "inception"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_logits_are_float32_under_mixed_policies_and_checkpoints_fit(studentnet, policy,
                                                                      tmp_path):
  config = studentnets.StudentNetConfig(sync_batch_norm=False, **TINY)
  float32_student = studentnets.build_studentnet(studentnet, 10, config)
  path = tf.train.Checkpoint(student=float32_student).save(str(tmp_path / "ckpt"))
  keras.mixed_precision.set_global_policy(policy)
  student = studentnets.build_studentnet(studentnet, 10, config)
  assert student.get_layer("logits").dtype_policy.name == "float32"
  assert student.layers[1].compute_dtype != "float32"  # The body stays mixed.
  logits = student(np.ones([2, 32, 32, 3], np.float32), training=False)
  assert logits.dtype == tf.float32
  # Same variables (names, shapes, dtypes) as under float32: checkpoints restore both ways.
  assert [(v.path, v.shape, v.dtype) for v in student.weights] == [
      (v.path, v.shape, v.dtype) for v in float32_student.weights]
  tf.train.Checkpoint(student=student).restore(path).assert_consumed()


# ---------------------------------------------------------------------------- item 2


def test_recorded_policy_falls_back_to_float32(tmp_path):
  assert train_config.recorded_policy({"mixed_precision": "mixed_bfloat16"}) == "mixed_bfloat16"
  assert train_config.recorded_policy({}) == "none"
  assert train_config.recorded_policy({"mixed_precision": "auto"}) == "none"
  assert train_config.run_policy(str(tmp_path)) == "none"  # No train_config.json.


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
  """A 3-step baseline run in mixed_bfloat16 and its in-run evaluations (the in-run model, as
  `learning_curves.LearningCurves` evaluates it): test (accuracy, loss), train losses by id."""
  root = tmp_path_factory.mktemp("bf16_run")
  data_dir = make_tiny_noisy_cifar(root, num_train=32, num_test=24, num_shards=1)
  config = train_config.TrainConfig(
      train_log_dir=str(root / "train"), data_dir=str(data_dir / "0.4"), batch_size=8,
      max_number_of_steps=3, mixed_precision="mixed_bfloat16", verbose=0, trust_report=False,
      **TINY)
  result = training_loop.run_training(config, _baseline)
  student = result["model"].student
  assert student.dtype_policy.name == "mixed_bfloat16"
  test_split = data_lib.describe_split(str(data_dir / "val"), "cifar10", "test")
  test = evaluation.evaluate_student(
      student, data_lib.make_dataset(test_split, "cifar10", 8, training=False))
  train = evaluation.per_example_pass(
      student, data_lib.make_dataset(result["split"], "cifar10", 8, training=False))
  keras.mixed_precision.set_global_policy("float32")  # The tools must set it themselves.
  return {"root": root, "data_dir": data_dir, "config": config, "result": result,
          "test": test, "train_losses": dict(zip(train["id"].tolist(), train["loss"]))}


def _printed(accuracy, loss):
  """As the eval job's CSV writes them (its printed line has fewer digits)."""
  return f"{accuracy:.6f}", f"{loss:.6f}"


def test_eval_job_evaluates_in_the_runs_precision(bf16_run):
  train_dir = bf16_run["root"] / "train"
  evaluator = evaluation.CheckpointEvaluator(
      "resnet101", "cifar10", str(bf16_run["data_dir"] / "val"), "test", 8,
      studentnets.StudentNetConfig(sync_batch_norm=False, **TINY))
  (step, accuracy, loss), = evaluation.run_eval_job(
      evaluator, str(train_dir), str(bf16_run["root"] / "eval"), run_once=True)
  assert step == 3 and _printed(accuracy, loss) == _printed(*bf16_run["test"])
  assert evaluator.mixed_precision == "mixed_bfloat16"
  assert keras.mixed_precision.global_policy().name == "float32"


def test_trust_report_restore_evaluates_in_the_runs_precision(bf16_run):
  record = train_config.read_train_config(str(bf16_run["root"] / "train"))
  config = train_config.config_from_record(record)
  model, _ = trust_report.restore_model(
      config, bf16_run["result"]["latest_checkpoint"],
      curriculum_factory.make_curriculum_factory(config.curriculum, config.curriculum_settings))
  assert keras.mixed_precision.global_policy().name == "float32"
  assert model.student.dtype_policy.name == "mixed_bfloat16"
  test_split = data_lib.describe_split(str(bf16_run["data_dir"] / "val"), "cifar10", "test")
  got = evaluation.evaluate_student(
      model.student, data_lib.make_dataset(test_split, "cifar10", 8, training=False))
  assert _printed(*got) == _printed(*bf16_run["test"])
  # A config whose record had no policy ("auto" filled in) uses the checkpoint directory's.
  unresolved = train_config.config_from_record(record, mixed_precision="auto")
  model, _ = trust_report.restore_model(unresolved, bf16_run["result"]["latest_checkpoint"],
                                        _baseline)
  assert model.student.dtype_policy.name == "mixed_bfloat16"


def test_studentnet_dump_computes_in_the_runs_precision(bf16_run, tmp_path):
  train_dir = str(bf16_run["root"] / "train")
  settings = studentnet_dump.resolve_settings(train_dir, log=lambda *_: None)
  assert settings.mixed_precision == "mixed_bfloat16"
  output = tmp_path / "dump.csv"
  studentnet_dump.dump_studentnet(train_dir, str(bf16_run["data_dir"] / "0.4"), str(output),
                                  settings, batch_size=8, batch_norm_mode="inference",
                                  log=lambda *_: None)
  assert keras.mixed_precision.global_policy().name == "float32"
  rows = [line.split() for line in output.read_text().splitlines()]
  assert len(rows) == 32
  for example_id, _, _, _, loss in rows:
    assert loss == f"{bf16_run['train_losses'][int(example_id)]:.6f}"


# ---------------------------------------------------------------------------- item 3


def test_resume_keeps_the_recorded_precision_unless_another_is_asked(tiny_cifar, tmp_path,
                                                                     monkeypatch):
  """A float32 run resumed with the default --mixed_precision=auto on a machine whose CPU has
  bf16 instructions continues in float32; an explicit other policy is used and recorded."""
  monkeypatch.setattr(precision, "cpu_has_bf16_instructions", lambda *unused: True)
  assert precision.resolve_mixed_precision("auto") == "mixed_bfloat16"

  def train(steps, policy):
    config = train_config.TrainConfig(
        train_log_dir=str(tmp_path / "train"), data_dir=str(tiny_cifar / "0.4"), batch_size=16,
        max_number_of_steps=steps, mixed_precision=policy, verbose=0, trust_report=False,
        **TINY)
    result = training_loop.run_training(config, _baseline)
    record = json.loads((tmp_path / "train" / train_config.CONFIG_FILE).read_text())
    return result["model"].student.dtype_policy.name, record

  assert train(2, "none")[0] == "float32"
  policy, record = train(2, "auto")  # Already at step 2: builds, records, stops.
  assert policy == "float32" and record["mixed_precision"] == "none"
  assert "changes" not in record
  policy, record = train(2, "mixed_bfloat16")
  assert policy == "mixed_bfloat16" and record["mixed_precision"] == "mixed_bfloat16"
  assert record["changes"] == [{"step": 2, "changed": {"mixed_precision": ["none",
                                                                          "mixed_bfloat16"]}}]


# ---------------------------------------------------------------------------- item 8


class _NanGradientWhenMarked(keras.layers.Layer):
  """Identity on `x`; its gradient is NaN for a batch whose first pixel is negative."""

  def call(self, x, images):
    marked = images[0, 0, 0, 0] < 0

    @tf.custom_gradient
    def identity(t):
      return tf.identity(t), lambda dy: dy * tf.cast(
          tf.where(marked, float("nan"), 1.0), dy.dtype)

    return identity(x)


class _SkippedSteps(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.skipped = []

  def on_train_batch_end(self, batch, logs=None):
    self.skipped.append(int(logs["skipped_steps"]))


def test_mixed_float16_run_whose_steps_are_all_skipped_stops_unsaved(tmp_path):
  """Non-finite gradients at every loss scale: the loss-scale optimizer skips each step, the
  loss stays finite; after `max_skipped_steps` consecutive skips the run stops, unsaved."""
  rng = np.random.default_rng(0)
  marked = [True, True, False] + [True] * 9  # Skip, skip, apply, then skip on.
  images = rng.uniform(0, 1, (len(marked), 8, 4, 4, 3)).astype(np.float32)
  images[np.array(marked), 0, 0, 0, 0] = -1.0
  labels = rng.integers(0, 10, (len(marked), 8)).astype(np.int32)
  dataset = tf.data.Dataset.from_tensor_slices(({"image": images}, labels))
  keras.mixed_precision.set_global_policy("mixed_float16")
  inputs = keras.Input((4, 4, 3))
  hidden = keras.layers.Dense(8, name="hidden")(keras.layers.Flatten()(inputs))
  hidden = _NanGradientWhenMarked()(hidden, inputs)
  logits = keras.layers.Dense(10, dtype="float32", name="logits")(hidden)
  model = trainer_lib.StudentTrainer(keras.Model(inputs, logits), _baseline(), max_steps=20)
  model.compile(optimizer=keras.optimizers.SGD(0.1))
  assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
  manager = tf.train.CheckpointManager(checkpoints.make_checkpoint(model), str(tmp_path), 3,
                                       checkpoint_name="ckpt")
  recorder = _SkippedSteps()
  with pytest.raises(NonFiniteLossError, match="skipped the last 5 steps, none applied after "
                     "step 1; training stopped with nothing saved"):
    model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[
        recorder, callbacks_lib.StopOnNonFinite(manager, max_skipped_steps=5),
        callbacks_lib.CheckpointEverySecs(manager, interval_secs=1e9)])
  assert recorder.skipped == [1, 2, 0, 1, 2, 3, 4, 5]
  assert int(model.nonfinite_step.numpy()) == 0  # The loss stayed finite.
  assert manager.latest_checkpoint is None
  assert all(np.all(np.isfinite(v.numpy())) for v in model.student.weights)
