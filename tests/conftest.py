"""Shared test fixtures: paths to the project and to ../shared data (skipped when absent)."""
import os
import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CODE_DIR = REPO_ROOT / "code"
if str(CODE_DIR) not in sys.path:
  sys.path.insert(0, str(CODE_DIR))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def shared_data_path(name):
  """Path of a file in ../shared/data (or $MENTORNET_SHARED_DATA), or None if absent."""
  root = os.environ.get("MENTORNET_SHARED_DATA", str(REPO_ROOT.parent / "shared" / "data"))
  path = pathlib.Path(root) / name
  return path if path.exists() else None


@pytest.fixture
def cifar_subset_path():
  path = shared_data_path("cifar10_subset.npz")
  if path is None:
    pytest.skip("../shared/data/cifar10_subset.npz is absent (set MENTORNET_SHARED_DATA)")
  return path


@pytest.fixture
def repo_root():
  return REPO_ROOT
