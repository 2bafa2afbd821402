"""Any `fit` input -> example-numbered `tf.data` batches for the one trainer.

NumPy arrays (x, y) and `tf.data.Dataset`s of (x, y) batches (e.g. from
`keras.utils.image_dataset_from_directory`) become `({"x": x, "id": id}, y)` examples, id =
position in the data: the row of an array, the order of the dataset's first pass (its
examples are cached in memory then, so a dataset that reshuffles keeps its ids; build it with
`shuffle=False` for ids that follow its `file_paths`). Labels are int [n] class ids, [n, 1]
or one-hot [n, classes].
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf

from mentornet.errors import UsageError

# Largest shuffle buffer of the training batches (examples); at most the data size.
MAX_SHUFFLE_BUFFER = 100_000


def sparse_label_array(labels):
  """int64 [n] class ids of int [n] / [n, 1] or one-hot [n, classes] labels (NumPy)."""
  labels = np.asarray(labels)
  if labels.ndim == 2 and labels.shape[1] != 1:
    return np.argmax(labels, axis=1).astype(np.int64)
  return labels.reshape(-1).astype(np.int64)


@dataclasses.dataclass
class NumberedData:
  """Examples of one input, each with its id.

  Attributes:
    examples: unbatched `tf.data.Dataset` of ({"x": x, "id": int64 id}, y), in id order.
    labels: int64 [n] class ids, labels[id].
    source: the object the user passed (to recognise it later).
  """
  examples: tf.data.Dataset
  labels: np.ndarray
  source: object

  @property
  def num_examples(self):
    return len(self.labels)

  def steps(self, batch_size):
    return max(1, math.ceil(self.num_examples / batch_size))

  def batches(self, batch_size, shuffle=False, seed=0):
    """Batches of ({"x", "id"}, y); reshuffled every epoch when `shuffle`."""
    ds = self.examples
    if shuffle:
      ds = ds.shuffle(min(self.num_examples, MAX_SHUFFLE_BUFFER), seed=seed,
                      reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).apply(tf.data.experimental.assert_cardinality(
        self.steps(batch_size)))
    return ds.prefetch(tf.data.AUTOTUNE)

  def sample_inputs(self, count=2):
    """The inputs of the first `count` examples (to build and check a model)."""
    features, _ = next(iter(self.examples.batch(count)))
    return features["x"]


def _number(ds):
  return ds.enumerate().map(lambda i, xy: ({"x": xy[0], "id": i}, xy[1]))


def number_examples(x, y=None):
  """`NumberedData` of arrays `x`, `y` or of a dataset `x` of (x, y) batches.

  Raises `UsageError` (one line) for missing or mismatched labels, an empty input, or a
  dataset whose elements are not (x, y) pairs.
  """
  if isinstance(x, tf.data.Dataset):
    if y is not None:
      raise UsageError("y must be None when x is a tf.data.Dataset of (x, y) batches")
    spec = x.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
      raise UsageError("a tf.data.Dataset input must yield (x, y) batches (no sample weights)")
    examples = _number(x.unbatch()).cache()
    labels = [sparse_label_array(batch_y.numpy())
              for _, batch_y in examples.batch(4096)]  # This first pass fills the cache.
    labels = np.concatenate(labels) if labels else np.zeros([0], np.int64)
  else:
    if y is None:
      raise UsageError("labels y are required with array inputs")
    labels = sparse_label_array(y)
    lengths = {len(a) for a in tf.nest.flatten(x)}
    if lengths != {len(labels)}:
      raise UsageError(f"x holds {sorted(lengths)} examples but y holds {len(labels)} labels")
    examples = _number(tf.data.Dataset.from_tensor_slices((x, np.asarray(y))))
  if not len(labels):
    raise UsageError("the training data holds no examples")
  if labels.min() < 0:
    raise UsageError(f"labels must be class ids >= 0, found {labels.min()}")
  return NumberedData(examples, labels, x)
