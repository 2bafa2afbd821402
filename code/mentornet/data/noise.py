"""Label corruption: symmetric (uniform over all classes) and asymmetric (class flips).

Pure numpy; deterministic given the seed (numpy `Generator(PCG64(seed))`).
"""
import math

import numpy as np

from mentornet.errors import UsageError

NOISE_TYPES = ("symmetric", "asymmetric")

# Asymmetric flips {true class: noisy class} for the 10-class datasets.
# CIFAR-10 ids: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse,
# 8 ship, 9 truck. MNIST: 2->7, 3->8, 5<->6, 7->1.
CIFAR10_FLIPS = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
MNIST_FLIPS = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}


def cifar100_flips():
  """CIFAR-100 flips: class c -> the next class in its block of 5 consecutive ids."""
  return {c: 5 * (c // 5) + (c + 1) % 5 for c in range(100)}


def asymmetric_flips(dataset_name, num_classes):
  """Returns the {true class: noisy class} map of `dataset_name`; UsageError if it has none."""
  flips_by_dataset = {"cifar10": (10, CIFAR10_FLIPS), "mnist": (10, MNIST_FLIPS),
                      "cifar100": (100, cifar100_flips())}
  if dataset_name not in flips_by_dataset:
    raise UsageError(f"asymmetric noise is defined for {', '.join(flips_by_dataset)}, "
                     f"not for dataset {dataset_name!r}")
  expected_classes, flips = flips_by_dataset[dataset_name]
  if num_classes != expected_classes:
    raise UsageError(f"asymmetric noise for {dataset_name} needs {expected_classes} classes, "
                     f"got num_classes={num_classes}")
  return dict(flips)


def validate_noise(noise_type, fraction):
  """Raises UsageError unless `noise_type` is known and `fraction` is a number in [0, 1]."""
  if noise_type not in NOISE_TYPES:
    raise UsageError(f"unknown noise type {noise_type!r}; choose one of {', '.join(NOISE_TYPES)}")
  try:
    fraction = float(fraction)
  except (TypeError, ValueError):
    raise UsageError(f"noise fraction {fraction!r} is not a number") from None
  if math.isnan(fraction) or not 0.0 <= fraction <= 1.0:
    raise UsageError(f"noise fraction {fraction} is outside [0, 1]")
  return fraction


def corrupt_labels(labels, num_classes, noise_type, fraction, seed, dataset_name=None):
  """Returns a noisy copy of `labels`.

  Args:
    labels: int array [N] of clean labels in [0, num_classes).
    num_classes: K, the size of the label space.
    noise_type: "symmetric": each label, independently with probability `fraction`, is replaced
      by a class drawn uniformly from all K classes (the true class may be drawn again, so about
      fraction * (K - 1) / K of the labels end up wrong), as in the original MentorNet data.
      "asymmetric": each label of a class listed in `asymmetric_flips(dataset_name)` is flipped
      to its paired class with probability `fraction`; other classes are never changed.
    fraction: the nominal noise fraction p in [0, 1].
    seed: non-negative int (or numpy SeedSequence) for `Generator(PCG64(seed))`.
    dataset_name: picks the asymmetric flip map (cifar10, cifar100, mnist); unused if symmetric.

  Returns:
    int64 array [N] of noisy labels.
  """
  fraction = validate_noise(noise_type, fraction)
  clean = np.asarray(labels)
  if clean.ndim != 1 or not np.issubdtype(clean.dtype, np.integer):
    raise ValueError(f"labels must be a 1-D integer array, got {clean.dtype} {clean.shape}")
  clean = clean.astype(np.int64)
  if clean.size and (clean.min() < 0 or clean.max() >= num_classes):
    raise UsageError(f"labels must lie in [0, {num_classes}); found [{clean.min()}, {clean.max()}]")
  if noise_type == "asymmetric":
    flips = asymmetric_flips(dataset_name, num_classes)

  rng = np.random.Generator(np.random.PCG64(seed))
  corrupt = rng.random(clean.shape[0]) < fraction
  noisy = clean.copy()
  if noise_type == "symmetric":
    random_classes = rng.integers(0, num_classes, size=clean.shape[0])
    noisy[corrupt] = random_classes[corrupt]
  else:
    flip_table = np.arange(num_classes, dtype=np.int64)
    for true_class, noisy_class in flips.items():
      flip_table[true_class] = noisy_class
    noisy[corrupt] = flip_table[clean[corrupt]]
  return noisy
