"""Speed levers reach the model: mixed precision, steps per execution (exact budget), threads,
fused batch norm."""
import json
import subprocess
import sys

import keras
import pytest

from conftest import subprocess_env
from mentornet.config import train_config
from mentornet.curricula import base as curriculum
from mentornet.training import callbacks as training_callbacks
from mentornet.training import loop as training_loop
from mentornet.training import precision


@pytest.mark.parametrize("requested, steps_per_epoch, remaining, expected", [
    (8, 39, 600, 3), (4, 10, 7, 1), (4, 20, 8, 4), (16, 10, 8, 2), (1, 39, 600, 1)])
def test_exact_steps_per_execution(requested, steps_per_epoch, remaining, expected):
  k = training_callbacks.exact_steps_per_execution(requested, steps_per_epoch, remaining)
  assert k == expected
  assert steps_per_epoch % k == 0 and remaining % k == 0


def test_bf16_policy_and_exact_budget_with_steps_per_execution(tiny_cifar, tmp_path):
  config = train_config.TrainConfig(
      train_log_dir=str(tmp_path / "train"), data_dir=str(tiny_cifar / "0.4"),
      batch_size=16, max_number_of_steps=8, num_residual_units=1, resnet_widths=(8, 8, 16, 16),
      mixed_precision="mixed_bfloat16", steps_per_execution=4, verbose=0, trust_report=False)
  make = lambda **unused: curriculum.NoCurriculum(name="curriculum")
  try:
    first = training_loop.run_training(config, make)
    # 160 examples / 16 = 10 steps per epoch: 4 does not divide it, 2 divides 10 and 8.
    assert first["model"].steps_per_execution == 2
    assert first["global_step"] == 8
    student = first["model"].student
    assert student.dtype_policy.name == "mixed_bfloat16"
    assert student.get_layer("init_conv").compute_dtype == "bfloat16"
    assert student.get_layer("init_conv").kernel.dtype == "float32"
    # Resuming at 8 towards 11: 3 steps left, so one step per execution, still exact.
    config.max_number_of_steps = 11
    resumed = training_loop.run_training(config, make)
    assert resumed["resumed_from_step"] == 8 and resumed["global_step"] == 11
    assert resumed["model"].steps_per_execution == 1
  finally:
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("cpu_flags, expected", [
    ("fpu avx2 avx512f avx512_bf16 avx512_vnni", "mixed_bfloat16"),
    ("fpu avx2 amx_bf16 amx_tile", "mixed_bfloat16"),
    ("fpu avx2 avx512f avx512_vnni", "none"),
    (None, "none")])
def test_auto_mixed_precision_follows_the_cpu(tmp_path, cpu_flags, expected):
  """--mixed_precision=auto: bf16 only on a CPU with bf16 instructions (this test machine has
  no GPU); an explicit policy is kept as asked."""
  cpuinfo = tmp_path / "cpuinfo"
  if cpu_flags is not None:
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {cpu_flags}\n\nprocessor\t: 1\n")
  assert precision.resolve_mixed_precision("auto", str(cpuinfo)) == expected
  assert precision.resolve_mixed_precision("none", str(cpuinfo)) == "none"
  assert precision.resolve_mixed_precision("mixed_float16", str(cpuinfo)) == "mixed_float16"
  assert train_config.TrainConfig.mixed_precision == "auto"


def test_auto_mixed_precision_reaches_the_model_and_the_record(tiny_cifar, tmp_path):
  """The default policy is resolved for this machine, applied and recorded as resolved."""
  expected = precision.resolve_mixed_precision("auto")
  config = train_config.TrainConfig(
      train_log_dir=str(tmp_path / "train"), data_dir=str(tiny_cifar / "0.4"),
      batch_size=16, max_number_of_steps=2, num_residual_units=1, resnet_widths=(8, 8, 16, 16),
      verbose=0, trust_report=False)
  result = training_loop.run_training(
      config, lambda **unused: curriculum.NoCurriculum(name="curriculum"))
  policy = result["model"].student.dtype_policy.name
  assert policy == train_config.keras_policy_name(expected)
  record = json.loads((tmp_path / "train" / train_config.CONFIG_FILE).read_text())
  assert record["mixed_precision"] == expected


THREADS_DRIVER = """
import sys
from absl import flags
import tensorflow as tf
from mentornet.cli import flags as flags_lib
flags_lib.define_training_flags()
flags.FLAGS(sys.argv)
flags_lib.apply_thread_flags()
tf.constant(1.0) + 1.0  # Starts the runtime.
print(tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads())
"""


def test_thread_flags_reach_tensorflow():
  result = subprocess.run(
      [sys.executable, "-c", THREADS_DRIVER, "--intra_op_threads=1", "--inter_op_threads=3"],
      env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["1", "3"]


FUSED_DRIVER = """
import sys
from absl import flags
import keras
import tensorflow as tf
from mentornet.curricula import base as curriculum
from mentornet.cli import flags as flags_lib
from mentornet.training import loop as training_loop
from mentornet.models.batch_norm import FusedBatchNormalization
flags_lib.define_training_flags()
data_dir, log_dir = sys.argv[1:3]
for extra in ([], ["--fused_batch_norm"], ["--nofused_batch_norm"]):
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["driver", "--data_dir=" + data_dir, "--train_log_dir=" + log_dir,
               "--num_residual_units=1", "--resnet_widths=4,4,8,8", *extra])
  config = flags_lib.train_config_from_flags("baseline")
  model = training_loop.build_trainer(config, tf.distribute.get_strategy(), 10, 160,
                                      lambda **unused: curriculum.NoCurriculum())
  norms = [l for l in model.student.layers if isinstance(l, keras.layers.BatchNormalization)]
  print(config.fused_batch_norm, sum(isinstance(l, FusedBatchNormalization) for l in norms),
        len(norms))
"""


def test_fused_batch_norm_flag_reaches_the_model(tiny_cifar, tmp_path):
  """Default (on), --fused_batch_norm, --nofused_batch_norm: the ResNet's 7 batch norms."""
  result = subprocess.run(
      [sys.executable, "-c", FUSED_DRIVER, str(tiny_cifar / "0.4"), str(tmp_path / "train")],
      env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert train_config.TrainConfig.fused_batch_norm
  assert result.stdout.split("\n")[:3] == ["True 7 7", "True 7 7", "False 0 7"]


@pytest.mark.parametrize("policy", ["none", "mixed_bfloat16"])
def test_cifarnet_trains_with_each_cpu_precision(tiny_cifar, tmp_path, policy):
  """cifarnet (--studentnet=inception) through the trainer: its LRN and its dropout's integer
  seed state pass the non-finite guard and the bf16 policy; the loss is finite."""
  config = train_config.TrainConfig(
      train_log_dir=str(tmp_path / "train"), data_dir=str(tiny_cifar / "0.4"),
      studentnet="inception", batch_size=16, max_number_of_steps=3, mixed_precision=policy,
      verbose=0, trust_report=False)
  result = training_loop.run_training(
      config, lambda **unused: curriculum.NoCurriculum(name="curriculum"))
  assert result["global_step"] == 3
  assert result["model"].student.dtype_policy.name == train_config.keras_policy_name(policy)
  assert int(result["model"].nonfinite_step.numpy()) == 0
