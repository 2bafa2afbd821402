"""Shared test fixtures: paths to the project and to ../shared data (skipped when absent)."""
import os
import pathlib
import sys

import keras
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CODE_DIR = REPO_ROOT / "code"
TESTS_DIR = REPO_ROOT / "tests"
for _path in (REPO_ROOT, CODE_DIR):  # this checkout's package first, then mentornet_models
  if str(_path) not in sys.path:
    sys.path.insert(0, str(_path))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def shared_data_path(name):
  """Path of a file in ../shared/data (or $MENTORNET_SHARED_DATA), or None if absent."""
  root = os.environ.get("MENTORNET_SHARED_DATA", str(REPO_ROOT.parent / "shared" / "data"))
  path = pathlib.Path(root) / name
  return path if path.exists() else None


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
  """A run sets Keras's global dtype policy (--mixed_precision=auto picks mixed_bfloat16 on a
  CPU with bf16 instructions); later tests start from float32 again."""
  yield
  import keras
  keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def cifar_subset_path():
  path = shared_data_path("cifar10_subset.npz")
  if path is None:
    pytest.skip("../shared/data/cifar10_subset.npz is absent (set MENTORNET_SHARED_DATA)")
  return path


@pytest.fixture
def repo_root():
  return REPO_ROOT


def subprocess_env(**extra):
  """Environment for running the project's scripts in a subprocess (this checkout's code/, its
  shipped MentorNets and the tests' helpers such as replica_harness on the path)."""
  env = dict(os.environ,
             PYTHONPATH=os.pathsep.join([str(CODE_DIR), str(REPO_ROOT), str(TESTS_DIR)]),
             TF_CPP_MIN_LOG_LEVEL="2", **extra)
  if "TF_CONFIG" not in extra:
    env.pop("TF_CONFIG", None)
  return env


def make_tiny_noisy_cifar(root, num_train=160, num_test=40, num_shards=2):
  """Random 32x32 images in the CIFAR-10 layout at 0.4 noise; returns <root>/data/cifar10."""
  import numpy as np

  from mentornet.data import noisy_data_builder
  rng = np.random.default_rng(0)
  npz = pathlib.Path(root) / "tiny.npz"
  np.savez(npz, x_train=rng.integers(0, 256, (num_train, 32, 32, 3), dtype=np.uint8),
           y_train=rng.integers(0, 10, num_train),
           x_test=rng.integers(0, 256, (num_test, 32, 32, 3), dtype=np.uint8),
           y_test=rng.integers(0, 10, num_test))
  noisy_data_builder.build_noisy_datasets("cifar10", str(npz), noise_fractions=[0.4],
                                          output_dir=str(pathlib.Path(root) / "data"),
                                          num_shards=num_shards, log=lambda *_: None)
  return pathlib.Path(root) / "data" / "cifar10"


@pytest.fixture(scope="session")
def tiny_cifar(tmp_path_factory):
  """<tmp>/data/cifar10 with 0.4/ (160 noisy training images) and val/ (40 test images)."""
  return make_tiny_noisy_cifar(tmp_path_factory.mktemp("tiny_cifar"))


def fixed_linear_batch(seed, batch, num_classes, kernel_scale):
  """A seeded batch and the weights of a linear StudentNet on 4x4x3 images: (images float32
  [batch, 4, 4, 3], labels int32 [batch], kernel [48, num_classes], bias [num_classes])."""
  import numpy as np
  rng = np.random.default_rng(seed)
  images = rng.normal(size=(batch, 4, 4, 3)).astype(np.float32)
  labels = rng.integers(0, num_classes, size=batch).astype(np.int32)
  kernel = (kernel_scale * rng.normal(size=(48, num_classes))).astype(np.float32)
  bias = (0.1 * rng.normal(size=(num_classes,))).astype(np.float32)
  return images, labels, kernel, bias


def linear_student(kernel, bias, l2):
  """A linear StudentNet (flatten, dense with L2 rate `l2`) holding `kernel` and `bias`."""
  import keras
  student = keras.Sequential([
      keras.Input((4, 4, 3)), keras.layers.Flatten(),
      keras.layers.Dense(bias.shape[0], kernel_regularizer=keras.regularizers.L2(l2))])
  student.layers[-1].kernel.assign(kernel)
  student.layers[-1].bias.assign(bias)
  return student


class LogRecorder(keras.callbacks.Callback):
  """Keeps every train step's logs as floats (`logs`: a list of dicts, one a step)."""

  def __init__(self):
    super().__init__()
    self.logs = []

  def on_train_batch_end(self, batch, logs=None):
    self.logs.append({k: float(v) for k, v in logs.items()})
