"""Noisy training, validation and test splits cut from one NumPy archive (npz), as TFRecords.

`prepare_npz_splits` is the data step of the reduced-scale experiments (reproduce_small, the
regime study, the small MentorNet DD pipeline); the class-balanced samplers serve them and the
quickstart.
"""
import json
import os

import numpy as np

from mentornet.data import human_noise
from mentornet.data import noise
from mentornet.errors import UsageError


def read_npz(path, flag="--data"):
  """The splits of an npz holding x_train, y_train and x_test, y_test (or x_val, y_val as the
  test split): {"train": {"image", "label"[, "cifar_index"]}, "test": {"image", "label"}};
  `cifar_index` is the npz's `train_index` (each image's CIFAR training index) when it has one.
  `UsageError`, naming `flag`, for a missing file, an unreadable one or missing keys."""
  if not path or not os.path.exists(path):
    raise UsageError(f"{flag}={path} does not exist")
  try:
    with np.load(path, allow_pickle=False) as arrays:
      contents = {key: arrays[key] for key in arrays.files}
  except Exception as e:  # Not a zip of .npy files, or an object array.
    raise UsageError(f"{flag}={path} is not a readable .npz file ({type(e).__name__})")
  test_prefix = next((p for p in ("test", "val") if {f"x_{p}", f"y_{p}"} <= contents.keys()),
                     None)
  if not {"x_train", "y_train"} <= contents.keys() or test_prefix is None:
    raise UsageError(f"{flag}={path} must hold x_train, y_train and x_test, y_test (or x_val, "
                     f"y_val); it holds {', '.join(sorted(contents)) or 'nothing'}")
  splits = {"train": {"image": contents["x_train"], "label": contents["y_train"]},
            "test": {"image": contents[f"x_{test_prefix}"],
                     "label": contents[f"y_{test_prefix}"]}}
  if "train_index" in contents:
    splits["train"]["cifar_index"] = contents["train_index"]
  return splits


def load_npz(path):
  """(x_train, y_train int64 [n], x_test, y_test int64 [m]) of `read_npz(path)`."""
  splits = read_npz(path)
  return (splits["train"]["image"], splits["train"]["label"].reshape(-1).astype(np.int64),
          splits["test"]["image"], splits["test"]["label"].reshape(-1).astype(np.int64))


def human_labels(npz_path, dataset_name, num_classes, y_train, labels_file, label_key):
  """The human labels of the npz's training images, aligned by its train_index."""
  train = read_npz(npz_path)["train"]
  if "cifar_index" not in train:
    raise UsageError(f"--data={npz_path} has no train_index (the CIFAR training index of each "
                     f"image), which --noise_type=human needs")
  human, clean = human_noise.load_labels(labels_file, label_key, num_classes)
  return human_noise.align(human, clean, y_train, train["cifar_index"],
                           f"--human_labels_file={labels_file}")


def subsample_per_class(labels, examples_per_class, seed):
  """Sorted indices of at most `examples_per_class` seeded-random examples of each class."""
  rng = np.random.default_rng([seed, 2])
  keep = [rng.permutation(np.flatnonzero(labels == c))[:examples_per_class]
          for c in np.unique(labels)]
  return np.sort(np.concatenate(keep))


def balanced_subset(labels, count, seed):
  """Sorted indices of `count` examples, as equal a share of each class as possible.

  Args:
    labels: int [N] labels; count: 1 <= count <= N; seed: permutation seed.
  """
  rng = np.random.Generator(np.random.PCG64(seed))
  order = rng.permutation(len(labels))
  # Round-robin over classes in a random order: the i-th pick of every class comes before
  # the (i+1)-th pick of any class.
  pick_number = np.zeros(len(labels), np.int64)
  seen = {}
  for index in order:
    label = int(labels[index])
    pick_number[index] = seen.get(label, 0)
    seen[label] = pick_number[index] + 1
  chosen = order[np.argsort(pick_number[order], kind="stable")[:count]]
  return np.sort(chosen)


def prepare_npz_splits(npz_path, noise_fraction, seed, val_fraction, data_root,
                 noise_type="symmetric", examples_per_class=0, human_labels_file=None,
                 human_label_key=None):
  """Writes train/val/test/oracle TFRecords; returns (dataset_name, {split dir}, stats).

  examples_per_class > 0 first keeps that many training images per class (seeded). With
  `human_labels_file` (noise_type human), the training labels are its `human_label_key` labels
  instead of synthetic noise at `noise_fraction`.
  """
  x_train, y_train, x_test, y_test = load_npz(npz_path)
  full_y_train = y_train  # Human labels are aligned on the whole npz, before any subsample.
  if examples_per_class > 0:
    keep = subsample_per_class(y_train, examples_per_class, seed)
    x_train, y_train = x_train[keep], y_train[keep]
  dataset_name = "cifar10" if max(y_train.max(), y_test.max()) < 10 else "cifar100"
  num_classes = 10 if dataset_name == "cifar10" else 100
  if human_labels_file:
    human_label_key = human_noise.resolve_key(dataset_name, human_label_key)
    noisy = human_labels(npz_path, dataset_name, num_classes, full_y_train, human_labels_file,
                          human_label_key)
    if examples_per_class > 0:
      noisy = noisy[keep]
    noise_name = f"human {human_label_key}"
  else:
    noise_name = f"{noise_type} {noise_fraction:g}"
    noisy = noise.corrupt_labels(y_train, num_classes, noise_type, noise_fraction, seed,
                                 dataset_name)
  order = np.random.default_rng(seed + 1).permutation(len(y_train))
  num_val = int(round(len(y_train) * val_fraction))
  val_index, train_index = np.sort(order[:num_val]), np.sort(order[num_val:])
  clean_index = train_index[noisy[train_index] == y_train[train_index]]
  dirs = {name: os.path.join(data_root, name) for name in ("train", "val", "test", "oracle")}
  if not os.path.exists(os.path.join(data_root, "stats.json")):
    from mentornet.data import records  # TensorFlow, only to write (reading the npz is cheap)

    def write(directory, split, index, labels):
      records.write_shards(directory, dataset_name, split, {
          "image": x_train[index], "label": labels[index], "clean_label": y_train[index],
          "id": np.arange(len(index), dtype=np.int64)}, num_shards=4)

    write(dirs["train"], "train", train_index, noisy)
    write(dirs["oracle"], "train", clean_index, y_train)
    write(dirs["val"], "test", val_index, noisy)  # Validation labels are as noisy as training.
    records.write_shards(dirs["test"], dataset_name, "test", {
        "image": x_test, "label": y_test}, num_shards=2)
    stats = {"dataset_name": dataset_name, "num_train": len(train_index), "num_val": num_val,
             "num_oracle": len(clean_index), "num_test": len(y_test),
             "realized_noise": float(np.mean(noisy[train_index] != y_train[train_index])),
             "noise": noise_name}
    with open(os.path.join(data_root, "stats.json"), "w", encoding="utf-8") as f:
      json.dump(stats, f, indent=2)
  with open(os.path.join(data_root, "stats.json"), encoding="utf-8") as f:
    stats = json.load(f)
  if stats.get("noise", noise_name) != noise_name:
    raise UsageError(f"{data_root} holds data with {stats['noise']} noise, not {noise_name}; "
                     f"choose another --output_dir")
  return dataset_name, dirs, stats
