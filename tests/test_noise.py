"""Label corruption: symmetric rate and redraws, asymmetric maps, determinism, validation."""
import numpy as np
import pytest

from mentornet.data import noise
from mentornet.errors import UsageError


def _uniform_labels(num_labels, num_classes, seed=123):
  return np.random.default_rng(seed).integers(0, num_classes, num_labels)


@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("fraction", [0.2, 0.4, 0.8])
def test_symmetric_realized_rate_is_p_times_k_minus_1_over_k(num_classes, fraction):
  clean = _uniform_labels(100_000, num_classes)
  noisy = noise.corrupt_labels(clean, num_classes, "symmetric", fraction, seed=0)
  expected = fraction * (num_classes - 1) / num_classes
  # Binomial std on 1e5 labels is at most 0.0016; 0.006 is beyond 3.5 sigma.
  assert abs(np.mean(noisy != clean) - expected) < 0.006
  assert noisy.dtype == np.int64 and noisy.min() >= 0 and noisy.max() < num_classes


def test_symmetric_may_redraw_the_true_class():
  clean = np.zeros(100_000, np.int64)
  # fraction 1: every label is redrawn uniformly, so about 1/K of them keep class 0.
  noisy = noise.corrupt_labels(clean, 10, "symmetric", 1.0, seed=0)
  assert abs(np.mean(noisy == 0) - 0.1) < 0.006
  counts = np.bincount(noisy, minlength=10) / len(noisy)
  assert np.all(np.abs(counts - 0.1) < 0.006)


def test_symmetric_zero_fraction_changes_nothing():
  clean = _uniform_labels(1000, 10)
  np.testing.assert_array_equal(noise.corrupt_labels(clean, 10, "symmetric", 0.0, 5), clean)


@pytest.mark.parametrize("dataset_name, flips", [
    ("cifar10", {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}),
    ("mnist", {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}),
])
def test_asymmetric_flips_exactly_the_listed_classes(dataset_name, flips):
  clean = np.repeat(np.arange(10), 2000)
  noisy = noise.corrupt_labels(clean, 10, "asymmetric", 0.4, seed=1, dataset_name=dataset_name)
  for true_class in range(10):
    values = noisy[clean == true_class]
    if true_class in flips:
      assert set(np.unique(values)) == {true_class, flips[true_class]}
      assert abs(np.mean(values != true_class) - 0.4) < 0.05
    else:
      np.testing.assert_array_equal(values, true_class)


def test_asymmetric_full_fraction_flips_every_eligible_label():
  clean = np.arange(10)
  noisy = noise.corrupt_labels(clean, 10, "asymmetric", 1.0, seed=0, dataset_name="cifar10")
  np.testing.assert_array_equal(noisy, [0, 1, 0, 5, 7, 3, 6, 7, 8, 1])


def test_asymmetric_cifar100_moves_to_next_class_in_block_of_five():
  clean = np.arange(100)
  noisy = noise.corrupt_labels(clean, 100, "asymmetric", 1.0, seed=0, dataset_name="cifar100")
  np.testing.assert_array_equal(noisy[:10], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5])
  np.testing.assert_array_equal(noisy // 5, clean // 5)
  assert np.all(noisy != clean)
  assert noise.cifar100_flips()[99] == 95


def test_same_seed_same_labels_other_seed_other_labels():
  clean = _uniform_labels(5000, 10)
  first = noise.corrupt_labels(clean, 10, "symmetric", 0.4, seed=7)
  again = noise.corrupt_labels(clean, 10, "symmetric", 0.4, seed=7)
  other = noise.corrupt_labels(clean, 10, "symmetric", 0.4, seed=8)
  np.testing.assert_array_equal(first, again)
  assert np.any(first != other)
  np.testing.assert_array_equal(clean, _uniform_labels(5000, 10))  # Input left untouched.


@pytest.mark.parametrize("fraction", [-0.1, 1.01, float("nan"), "lots"])
def test_bad_fraction_raises_usage_error(fraction):
  with pytest.raises(UsageError):
    noise.corrupt_labels(np.zeros(3, np.int64), 10, "symmetric", fraction, seed=0)


def test_bad_noise_type_and_dataset_raise_usage_error():
  labels = np.zeros(3, np.int64)
  with pytest.raises(UsageError, match="noise type"):
    noise.corrupt_labels(labels, 10, "pairflip", 0.2, seed=0)
  with pytest.raises(UsageError, match="asymmetric"):
    noise.corrupt_labels(labels, 10, "asymmetric", 0.2, seed=0, dataset_name=None)
  with pytest.raises(UsageError, match="100 classes"):
    noise.corrupt_labels(labels, 10, "asymmetric", 0.2, seed=0, dataset_name="cifar100")
  with pytest.raises(UsageError, match="labels must lie"):
    noise.corrupt_labels(np.array([10]), 10, "symmetric", 0.2, seed=0)
