"""Real human label noise: the CIFAR-10N / CIFAR-100N label files (Wei et al., ICLR 2022).

Each file holds, for every CIFAR training image in CIFAR training order (data_batch_1 ..
data_batch_5 of the python archive; TFDS ids train_00000 ...), the original label under
`clean_label` and human labels: CIFAR-10N `aggre_label` (9.0% wrong), `random_label1` (17.2%),
`random_label2`, `random_label3`, `worse_label` (40.2%); CIFAR-100N `noisy_label` (40.2%).
Both published forms are read without torch and without running code from the file: the
PyTorch zip (`CIFAR-10_human.pt`, a `<name>/data.pkl` pickle of a dict of NumPy arrays) and
`np.save`'s `.npy` of that dict. Their pickles may name NumPy's array reconstruction globals
only; anything else is refused.
"""
import hashlib
import io
import os
import pickle
import zipfile

import numpy as np

from mentornet.errors import UsageError

NOISE_TYPE = "human"
CLEAN_KEY = "clean_label"
# The human label each dataset uses unless --human_label_key says otherwise.
DEFAULT_KEYS = {"cifar10": "worse_label", "cifar100": "noisy_label"}


class NumpyArrayUnpickler(pickle.Unpickler):
  """Unpickles plain containers of NumPy arrays; any other global or a persistent id (a
  PyTorch tensor) raises `pickle.UnpicklingError`, so no code from the file runs."""
  NUMPY_NAMES = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}
  # Protocol 2 pickles of Python 3 bytes (torch.save's default protocol) need this one.
  OTHER_GLOBALS = {("_codecs", "encode")}

  def find_class(self, module, name):
    if ((module == "numpy" or module.startswith("numpy.")) and name in self.NUMPY_NAMES or
        (module, name) in self.OTHER_GLOBALS):
      return super().find_class(module, name)
    raise pickle.UnpicklingError(f"it names {module}.{name}, which is not a NumPy array")

  def persistent_load(self, pid):
    raise pickle.UnpicklingError("it holds PyTorch tensors, not NumPy arrays")


def noise_dir_name(key):
  """Output directory of a human label key: "worse_label" -> "human_worse_label"."""
  return f"{NOISE_TYPE}_{key}"


def resolve_key(dataset_name, key=None):
  """The label key to use (`key`, or the dataset's default); UsageError for non-CIFAR data."""
  if dataset_name not in DEFAULT_KEYS:
    raise UsageError(f"human label files exist for {', '.join(DEFAULT_KEYS)}, not for "
                     f"--dataset_name={dataset_name}")
  return key or DEFAULT_KEYS[dataset_name]


def _unpickle(stream, where):
  try:
    return NumpyArrayUnpickler(stream).load()
  except Exception as e:  # Any failure means the pickle is not a dict of NumPy arrays.
    raise UsageError(f"{where} is not a readable label file ({type(e).__name__}: {e})") from None


def _read_pt(path, where):
  try:
    with zipfile.ZipFile(path) as archive:
      pickles = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
      if len(pickles) != 1:
        raise UsageError(f"{where} is a zip without exactly one <name>/data.pkl; not a PyTorch "
                         f"archive")
      data = archive.read(pickles[0])
  except (zipfile.BadZipFile, OSError) as e:
    raise UsageError(f"{where} is not a PyTorch zip archive ({e}); the .npy form of the file "
                     f"is read too") from None
  return _unpickle(io.BytesIO(data), where)


def _read_npy(path, where):
  with open(path, "rb") as f:
    try:
      version = np.lib.format.read_magic(f)
      read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                     np.lib.format.read_array_header_2_0)
      shape, _, dtype = read_header(f)
    except ValueError as e:
      raise UsageError(f"{where} is neither a PyTorch zip archive (.pt) nor a .npy file "
                       f"({e})") from None
    if not dtype.hasobject or shape != ():
      raise UsageError(f"{where} holds a {dtype} array of shape {shape}, not the dict of label "
                       f"arrays that np.save writes for CIFAR-N")
    return _unpickle(f, where).item()


def read_label_file(path):
  """{key: 1-D array} of a CIFAR-N `.pt` or `.npy` file; UsageError naming what is wrong."""
  where = f"--human_labels_file={path}"
  if not path or not os.path.isfile(path):
    raise UsageError(f"{where} does not exist (download CIFAR-10_human.pt or "
                     f"CIFAR-100_human.pt, or their .npy forms, from the CIFAR-N release)")
  if zipfile.is_zipfile(path):
    contents = _read_pt(path, where)
  else:
    contents = _read_npy(path, where)
  if not isinstance(contents, dict) or not contents:
    raise UsageError(f"{where} holds a {type(contents).__name__}, not a dict of label arrays")
  for key, value in contents.items():
    if not isinstance(value, np.ndarray):
      raise UsageError(f"{where} holds a {type(value).__name__} under {key!r}, not a NumPy "
                       f"array")
  return contents


def load_labels(path, key, num_classes):
  """(human labels, clean labels), int64 [N] each, of `key` in the file at `path`.

  Checks that both keys exist (listing the keys found otherwise), hold 1-D integer arrays of
  one length and lie in [0, num_classes)."""
  where = f"--human_labels_file={path}"
  contents = read_label_file(path)
  if "coarse" in key:
    raise UsageError(f"--human_label_key={key}: coarse labels cannot stand for the fine "
                     f"training labels")
  for name in (key, CLEAN_KEY):
    if name not in contents:
      flag = "--human_label_key" if name == key else "the clean key"
      raise UsageError(f"{where} has no {name!r} ({flag}); its keys: "
                       f"{', '.join(map(str, contents))}")
  arrays = []
  for name in (key, CLEAN_KEY):
    labels = contents[name]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
      raise UsageError(f"{where}: {name!r} must be a 1-D integer array, got {labels.dtype} "
                       f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
      raise UsageError(f"{where}: {name!r} spans [{labels.min()}, {labels.max()}], outside the "
                       f"{num_classes} classes of the dataset")
    arrays.append(labels.astype(np.int64))
  if len(arrays[0]) != len(arrays[1]):
    raise UsageError(f"{where}: {key!r} has {len(arrays[0])} labels but {CLEAN_KEY!r} has "
                     f"{len(arrays[1])}")
  return arrays[0], arrays[1]


def align(human, clean, dataset_labels, train_index, where):
  """The human labels of a training set, int64 [M].

  Args:
    human, clean: the file's labels, int64 [N], indexed by CIFAR training index.
    dataset_labels: int [M], the training labels of the source.
    train_index: int [M], the CIFAR training index of each source image, or None when the
      source is the whole training set in CIFAR order (then M must equal N).
    where: names the file in errors.

  Raises:
    UsageError: wrong length, bad index, or a clean label of the file that differs from the
      source's label (naming the first such image).
  """
  dataset_labels = np.asarray(dataset_labels)
  if train_index is None:
    if len(dataset_labels) != len(human):
      raise UsageError(f"{where} has {len(human)} labels but the training set has "
                       f"{len(dataset_labels)} images")
    index = np.arange(len(human))
  else:
    index = np.asarray(train_index)
    if (index.shape != dataset_labels.shape or not np.issubdtype(index.dtype, np.integer) or
        len(np.unique(index)) != len(index)):
      raise UsageError(f"train_index must hold one distinct integer per training image "
                       f"({len(dataset_labels)}), got {index.dtype} {index.shape}")
    if index.size and (index.min() < 0 or index.max() >= len(human)):
      raise UsageError(f"{where} has {len(human)} labels but train_index reaches "
                       f"[{index.min()}, {index.max()}]")
  differ = np.flatnonzero(clean[index] != dataset_labels)
  if differ.size:
    i = differ[0]
    raise UsageError(f"{where} does not match the source: its clean_label[{index[i]}] is "
                     f"{clean[index[i]]} but training image {i} (CIFAR index {index[i]}) has "
                     f"label {dataset_labels[i]} ({differ.size} of {len(index)} differ)")
  return human[index]


def file_sha256(path):
  """sha256 hex digest of the label file (recorded in manifests)."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()
