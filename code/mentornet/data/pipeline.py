"""tf.data input pipelines: TFRecords in the slim layout -> preprocessed batches.

Each element is `(features, label)`:
- `features["image"]`: float32 [batch, 32, 32, 3], per-image standardized;
- `features["id"]`: int64 [batch], example id (-1 for the original files, which lack ids);
- `features["clean_label"]`: int32 [batch], uncorrupted label (-1 when unknown);
- `label`: int32 [batch], the (possibly noisy) training label.
"""
import dataclasses

import tensorflow as tf

from mentornet.config import datasets
from mentornet.config.defaults import AUGMENTATIONS
from mentornet.data import records
from mentornet.errors import UsageError


@dataclasses.dataclass(frozen=True)
class SplitInfo:
  files: tuple
  num_examples: int
  num_classes: int


def describe_split(data_dir, dataset_name, split):
  """Lists the split's files and counts its examples (raises UsageError when none)."""
  info = datasets.get_dataset_info(dataset_name)
  files = records.list_record_files(data_dir, dataset_name, split)
  try:
    num_examples = records.count_examples(files)
  except tf.errors.DataLossError:
    path, message = find_corrupt_file(files) or (data_dir, "unreadable")
    raise UsageError(f"corrupt TFRecord file {path}: {message}")
  return SplitInfo(tuple(files), num_examples, info.num_classes)


def _standardize(image):
  """float32 per-image standardization of uint8 [32, 32, 3] or [batch, 32, 32, 3]."""
  return tf.image.per_image_standardization(tf.cast(image, tf.float32))


def _augment(image, padding, seed, flip=True):
  """Zero-pad `padding` pixels a side, random crop back to size (none when `padding` is 0),
  random left-right flip (when `flip`).

  `seed` is an int32 [2] stateless seed, so the augmentation is reproducible per element.
  """
  size = image.shape[0]
  crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  if padding:
    image = tf.image.pad_to_bounding_box(image, padding, padding, size + 2 * padding,
                                         size + 2 * padding)
    image = tf.image.stateless_random_crop(image, [size, size, 3], crop_seed)
  return tf.image.stateless_random_flip_left_right(image, flip_seed) if flip else image


# Training-image augmentations; `crop_flip` is the original's, the others are for reduced regimes.


def make_dataset(split_info, dataset_name, batch_size, training, crop_padding=2, seed=0,
                 drop_remainder=None, cache=True, input_context=None,
                 augmentation="crop_flip"):
  """Builds the batched dataset of a split.

  Args:
    split_info: `SplitInfo` from `describe_split`.
    dataset_name: registry name, selects the label feature.
    batch_size: examples per batch (per input pipeline; see `input_context`).
    training: shuffle, repeat forever and augment when True; one ordered pass otherwise.
    crop_padding: pixels of padding before the random crop (StudentNet-specific).
    seed: shuffle and augmentation seed.
    drop_remainder: defaults to `training`.
    cache: keep decoded images in memory after the first pass.
    input_context: a `tf.distribute.InputContext` to shard by worker.
    augmentation: of training images, one of AUGMENTATIONS: `crop_flip` (the original's pad,
      random crop and left-right flip), `flip` (flip only), `none`.
  """
  if augmentation not in AUGMENTATIONS:
    raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, not "
                     f"{augmentation!r}")
  info = datasets.get_dataset_info(dataset_name)
  files = tf.data.Dataset.from_tensor_slices(list(split_info.files))
  if input_context is not None and input_context.num_input_pipelines > 1:
    files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  ds = files.interleave(tf.data.TFRecordDataset, cycle_length=4,
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.map(lambda s: records.parse_example(s, info), num_parallel_calls=tf.data.AUTOTUNE)
  if cache:
    ds = ds.cache()
  if training:
    ds = ds.shuffle(min(split_info.num_examples, 50000), seed=seed,
                    reshuffle_each_iteration=True).repeat()
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed).batch(2)))

    def prepare(example, random_pair):
      element_seed = tf.cast(random_pair % (2**31 - 1), tf.int32)
      image = example["image"]
      if augmentation != "none":
        padding = crop_padding if augmentation == "crop_flip" else 0
        image = _augment(image, padding, element_seed, flip=info.random_flip)
      return _features(example, image), example["label"]
  else:

    def prepare(example):
      return _features(example, example["image"]), example["label"]

  ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)
  # Standardized a batch at a time (each image by its own mean and deviation): one vectorized
  # op per batch instead of one per image, and the batch is copied as uint8.
  ds = ds.map(lambda features, labels: (dict(features, image=_standardize(features["image"])),
                                        labels), num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def _features(example, image):
  return {"image": image, "id": example["id"], "clean_label": example["clean_label"]}


def find_corrupt_file(files):
  """Returns `(path, message)` of the first unreadable TFRecord file in `files`, or None."""
  for path in files:
    try:
      for _ in tf.data.TFRecordDataset(path):
        pass
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
      return path, e.message.splitlines()[0] if e.message else type(e).__name__
  return None
