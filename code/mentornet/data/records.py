"""The TFRecord format: the slim CIFAR layout plus a clean label and an example id.

One `tf.train.Example` per image, with features
  image/encoded        PNG bytes of an HxWx3 uint8 image
  image/format         b"png"
  image/height, image/width                 int64
  <DatasetInfo.label_key>                   int64, the (possibly noisy) training label
  image/class/coarse_label                  int64, CIFAR-100 only, when known
  image/class/clean_label                   int64, the uncorrupted label (new in the port)
  image/id                                  int64, index of the example in its source split (new)
Files are `<dir>/<name>_<split>-00000-of-0000N`; a `manifest.json` beside them (written by
`mentornet.data.noisy_data_builder`) lets `count_examples` skip reading the records.
The original slim files (no clean label, id, height or width) parse unchanged.
"""
import collections
import glob
import json
import os

import numpy as np
import tensorflow as tf

from mentornet.config.datasets import DatasetInfo
from mentornet.config.datasets import get_dataset_info
from mentornet.errors import UsageError

ENCODED_KEY = "image/encoded"
FORMAT_KEY = "image/format"
HEIGHT_KEY = "image/height"
WIDTH_KEY = "image/width"
CLEAN_LABEL_KEY = "image/class/clean_label"
ID_KEY = "image/id"
COARSE_LABEL_KEY = "image/class/coarse_label"
MANIFEST_NAME = "manifest.json"
# Value of `clean_label`, `id` (and `coarse_label`) when a record lacks the feature.
MISSING = -1

ShardInfo = collections.namedtuple("ShardInfo", ["path", "num_examples"])


def _dataset_info(dataset_info):
  return dataset_info if isinstance(dataset_info, DatasetInfo) else get_dataset_info(dataset_info)


def _int64_feature(value):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _bytes_feature(value):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _coarse_output_name(key):
  return key.rsplit("/", 1)[-1]  # "image/class/coarse_label" -> "coarse_label"


def example_from_png(png_bytes, height, width, label, dataset_info, clean_label=None,
                     example_id=None, coarse_label=None):
  """Serialized `tf.train.Example` (bytes) of an already PNG-encoded image."""
  info = _dataset_info(dataset_info)
  features = {
      ENCODED_KEY: _bytes_feature(png_bytes),
      FORMAT_KEY: _bytes_feature(b"png"),
      HEIGHT_KEY: _int64_feature(height),
      WIDTH_KEY: _int64_feature(width),
      info.label_key: _int64_feature(label),
  }
  if coarse_label is not None:
    if COARSE_LABEL_KEY not in info.extra_label_keys:
      raise ValueError(f"dataset {info.name} has no coarse labels")
    features[COARSE_LABEL_KEY] = _int64_feature(coarse_label)
  if clean_label is not None:
    features[CLEAN_LABEL_KEY] = _int64_feature(clean_label)
  if example_id is not None:
    features[ID_KEY] = _int64_feature(example_id)
  example = tf.train.Example(features=tf.train.Features(feature=features))
  return example.SerializeToString()


def _check_image(image):
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
  return image


def encode_example(image, label, dataset_info, clean_label=None, example_id=None,
                   coarse_label=None):
  """Serialized `tf.train.Example` (bytes) of one uint8 [H, W, 3] image and its labels.

  `dataset_info` is a `DatasetInfo` or a dataset name; it picks the label feature key.
  Optional features that are None are left out of the record.
  """
  image = _check_image(image)
  png_bytes = tf.io.encode_png(image).numpy()
  return example_from_png(png_bytes, image.shape[0], image.shape[1], label, dataset_info,
                          clean_label=clean_label, example_id=example_id,
                          coarse_label=coarse_label)


def encode_png_batch(images, batch_size=1024):
  """PNG-encodes uint8 [N, H, W, 3] images; returns a list of N `bytes`, in order."""
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
  encoded = []
  dataset = (tf.data.Dataset.from_tensor_slices(images)
             .map(tf.io.encode_png, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .batch(batch_size))
  for batch in dataset.as_numpy_iterator():
    encoded.extend(batch.tolist())
  return encoded


def _feature_spec(info):
  spec = {
      ENCODED_KEY: tf.io.FixedLenFeature([], tf.string),
      # Required: a record without its label is broken, and a wrong --dataset_name shows here.
      info.label_key: tf.io.FixedLenFeature([], tf.int64),
      CLEAN_LABEL_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=MISSING),
      ID_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=MISSING),
  }
  for key in info.extra_label_keys:
    spec[key] = tf.io.FixedLenFeature([], tf.int64, default_value=MISSING)
  return spec


def parse_example(serialized, dataset_info):
  """Parses one serialized record with TF ops (usable in `tf.data.Dataset.map`).

  Returns a dict: `image` uint8 [S, S, 3] (S = dataset_info.image_size, checked at run time),
  `label` int32 [], `clean_label` int32 [] (-1 if absent), `id` int64 [] (-1 if absent),
  and for CIFAR-100 `coarse_label` int32 [] (-1 if absent).
  Reads PNG (and JPEG) images, so the original slim files parse unchanged.
  """
  info = _dataset_info(dataset_info)
  features = tf.io.parse_single_example(serialized, _feature_spec(info))
  image = tf.io.decode_image(features[ENCODED_KEY], channels=3, dtype=tf.uint8,
                             expand_animations=False)
  image = tf.ensure_shape(image, [info.image_size, info.image_size, 3])
  parsed = {
      "image": image,
      "label": tf.cast(features[info.label_key], tf.int32),
      "clean_label": tf.cast(features[CLEAN_LABEL_KEY], tf.int32),
      "id": features[ID_KEY],
  }
  for key in info.extra_label_keys:
    parsed[_coarse_output_name(key)] = tf.cast(features[key], tf.int32)
  return parsed


def record_file_pattern(data_dir, dataset_name, split):
  """Glob pattern `<data_dir>/<dataset_name>_<split>-*` of the slim layout."""
  return os.path.join(data_dir, f"{dataset_name}_{split}-*")


def shard_file_name(dataset_name, split, shard_index, num_shards):
  """`<name>_<split>-00003-of-00010`."""
  return f"{dataset_name}_{split}-{shard_index:05d}-of-{num_shards:05d}"


def list_record_files(data_dir, dataset_name, split):
  """Sorted list of the record files of a split; UsageError (one line) when there are none."""
  pattern_name = os.path.basename(record_file_pattern(data_dir, dataset_name, split))
  files = sorted(f for f in glob.glob(record_file_pattern(data_dir, dataset_name, split))
                 if os.path.isfile(f))
  if files:
    return files
  if not os.path.isdir(data_dir):
    hint = " (the directory does not exist)"
  else:
    subdirs = sorted(d for d in os.listdir(data_dir)
                     if glob.glob(record_file_pattern(os.path.join(data_dir, d), dataset_name,
                                                      split)))
    hint = f" (found them in its subdirectories {', '.join(subdirs)})" if subdirs else ""
  raise UsageError(f"--data_dir={data_dir} has no files matching {pattern_name}{hint}")


def read_manifest(directory):
  """The parsed `manifest.json` of `directory`, or None when absent or unreadable."""
  path = os.path.join(directory, MANIFEST_NAME)
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _count_records(files):
  dataset = tf.data.TFRecordDataset(files)
  return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def count_examples(files):
  """Number of records in `files`.

  Uses the per-file counts of the `manifest.json` beside each file when the manifest lists that
  file with its current size in bytes; otherwise reads and counts the records.
  """
  total = 0
  to_read = []
  manifests = {}
  for path in files:
    directory, name = os.path.split(path)
    if directory not in manifests:
      manifests[directory] = read_manifest(directory) or {}
    entry = manifests[directory].get("file_info", {}).get(name)
    if entry and os.path.getsize(path) == entry.get("num_bytes"):
      total += int(entry["num_examples"])
    else:
      to_read.append(path)
  if to_read:
    total += _count_records(to_read)
  return total


def _examples_from_arrays(arrays, info):
  """Yields serialized examples from a dict of equal-length arrays (see `write_shards`)."""
  if "encoded" in arrays:
    encoded = arrays["encoded"]
    height = width = info.image_size
  else:
    images = np.asarray(arrays["image"])
    encoded = encode_png_batch(images)
    height, width = images.shape[1:3]
  optional = {name: arrays.get(name) for name in ("clean_label", "id", "coarse_label")}
  for index, png_bytes in enumerate(encoded):
    values = {name: (None if column is None else column[index])
              for name, column in optional.items()}
    yield example_from_png(png_bytes, height, width, arrays["label"][index], info,
                           clean_label=values["clean_label"], example_id=values["id"],
                           coarse_label=values["coarse_label"])


def _write_file_atomically(path, serialized_examples):
  directory, name = os.path.split(path)
  temp_path = os.path.join(directory, f".{name}.tmp")
  with tf.io.TFRecordWriter(temp_path) as writer:
    for serialized in serialized_examples:
      writer.write(serialized)
  os.replace(temp_path, path)


def write_shards(output_dir, dataset_name, split, examples, num_shards):
  """Writes examples into `<output_dir>/<name>_<split>-0000i-of-0000N` files, in order.

  Args:
    output_dir: directory, created when missing.
    dataset_name: picks the label feature key.
    split: "train" or "test".
    examples: either a dict of equal-length arrays, `label` [N] plus `image` uint8 [N, S, S, 3]
      (or `encoded`: N PNG `bytes` of S x S images) and optionally `clean_label`, `id`,
      `coarse_label` [N]; or an iterable of serialized `tf.train.Example` bytes.
    num_shards: number of files; consecutive examples share a file. Capped at the number of
      examples so no file is empty (one empty file when there are no examples).

  Returns:
    list of `ShardInfo(path, num_examples)`.
  """
  info = get_dataset_info(dataset_name)
  if num_shards < 1:
    raise UsageError(f"--num_shards must be at least 1, got {num_shards}")
  if isinstance(examples, dict):
    serialized = list(_examples_from_arrays(examples, info))
  else:
    serialized = list(examples)
  num_shards = max(1, min(num_shards, len(serialized)))
  os.makedirs(output_dir, exist_ok=True)
  bounds = np.linspace(0, len(serialized), num_shards + 1).round().astype(int)
  shards = []
  for index in range(num_shards):
    path = os.path.join(output_dir, shard_file_name(dataset_name, split, index, num_shards))
    _write_file_atomically(path, serialized[bounds[index]:bounds[index + 1]])
    shards.append(ShardInfo(path, int(bounds[index + 1] - bounds[index])))
  return shards


def read_all(files, dataset_info, batch_size=1024):
  """Reads and parses every record of `files` (in file order) into numpy arrays.

  Returns a dict of `image` uint8 [N, S, S, 3], `label` int32 [N], `clean_label` int32 [N],
  `id` int64 [N] (and `coarse_label` int32 [N] for CIFAR-100). For tests and small tools.
  """
  info = _dataset_info(dataset_info)
  dataset = (tf.data.TFRecordDataset(list(files))
             .map(lambda serialized: parse_example(serialized, info))
             .batch(batch_size))
  columns = collections.defaultdict(list)
  for batch in dataset.as_numpy_iterator():
    for name, values in batch.items():
      columns[name].append(values)
  if not columns:
    empty = {"image": np.zeros([0, info.image_size, info.image_size, 3], np.uint8),
             "label": np.zeros([0], np.int32), "clean_label": np.zeros([0], np.int32),
             "id": np.zeros([0], np.int64)}
    for key in info.extra_label_keys:
      empty[_coarse_output_name(key)] = np.zeros([0], np.int32)
    return empty
  return {name: np.concatenate(values) for name, values in columns.items()}
