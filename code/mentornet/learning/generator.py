"""Training sets for learning a MentorNet: the predefined grid and the data-driven sets.

A data set is a directory holding the original layout:
  tr.p, ts.p          the train (80%) and test (20%) points: a pickle of a float64 array
                      [n, 5] with columns (loss, loss_diff, label, epoch, v_star)
  dataset_info.json   what made it (v* function, gamma, seed, source CSV, percentile, sizes)
The pickles are written portably (protocol 2, the array stored as `numpy.array(nested list)`),
so the original reader (`pickle.load(...)` then `.shape`) reads them under Python 2.7 or 3 and
any NumPy; `read_dataset` reads them, and the original's own NumPy pickles, while refusing
any other pickled object.

Predefined: the grid loss in [0, 10) step 0.1 plus [10, 30) step 1 (120 values), loss_diff in
[-5, 5) step 0.1 (100), label 0, epoch 0..99: 1.2M points labelled by a v* function, shuffled
with a seed, `sample_size` kept. Grid values are k / 10 exactly (the original's np.arange gave
-1.8e-14 instead of 0 for the middle loss_diff).

Data-driven: a StudentNet dump CSV (`id epoch noisy_label clean_label loss` per line, see
`studentnet_dump`); for each percentile p, loss_diff = loss - the p-th percentile of all the
dump's losses (NumPy linear interpolation, as the original), v* = (noisy_label == clean_label),
label 0, one data set in `<outdir>/<csv name>_percentile_<p>/`. Every row is a point (the
original kept one row per id, silently dropping the other epochs of a multi-epoch dump).
"""
import json
import math
import os
import pickle

import numpy as np

from mentornet.errors import UsageError
from mentornet.errors import parse_number_list
from mentornet.learning import vstar as vstar_lib

TRAIN_FILE = "tr.p"
TEST_FILE = "ts.p"
INFO_FILE = "dataset_info.json"
COLUMNS = ("loss", "loss_diff", "label", "epoch", "v_star")
TRAIN_FRACTION = 0.8
DEFAULT_PERCENTILES = (40, 50, 60, 75, 80, 90)
DEFAULT_SAMPLE_SIZE = 100000
DUMP_COLUMNS = ("id", "epoch", "noisy_label", "clean_label", "loss")
NUM_EPOCHS = 100

# The predefined input grid (exact decimals).
LOSS_GRID = np.concatenate([np.arange(0, 100) / 10.0, np.arange(10, 30, dtype=np.float64)])
LOSS_DIFF_GRID = np.arange(-50, 50) / 10.0
LABEL_GRID = np.array([0.0])
EPOCH_GRID = np.arange(NUM_EPOCHS, dtype=np.float64)


def input_grid():
  """float64 [1200000, 4]: every (loss, loss_diff, label, epoch) of the grid, product order."""
  axes = np.meshgrid(LOSS_GRID, LOSS_DIFF_GRID, LABEL_GRID, EPOCH_GRID, indexing="ij")
  return np.stack([axis.reshape(-1) for axis in axes], axis=1)


def sample_input_grid(num_points, seed):
  """float64 [num_points, 4]: grid points drawn uniformly with replacement (fresh samples)."""
  rng = np.random.default_rng(seed)
  return np.stack([
      rng.choice(LOSS_GRID, num_points), rng.choice(LOSS_DIFF_GRID, num_points),
      rng.choice(LABEL_GRID, num_points), rng.choice(EPOCH_GRID, num_points)], axis=1)


def split_train_test(data):
  """First 80% (floor) of the rows -> train, the rest -> test (the original lost one row)."""
  train_size = int(data.shape[0] * TRAIN_FRACTION)
  return data[:train_size], data[train_size:]


def make_predefined_dataset(vstar_name, sample_size=DEFAULT_SAMPLE_SIZE, gamma=None, seed=0):
  """Labels the grid with a registered v* function, shuffles, keeps `sample_size` points.

  Returns (train float64 [0.8 n, 5], test float64 [n - 0.8 n, 5]), n = min(sample_size, 1.2M);
  columns as `COLUMNS`.
  """
  spec = vstar_lib.get_vstar(vstar_name)
  if sample_size <= 0:
    raise UsageError(f"--sample_size must be positive, got {sample_size}")
  grid = input_grid()
  keep = np.random.default_rng(seed).permutation(grid.shape[0])[:sample_size]
  features = grid[keep]
  data = np.concatenate([features, spec(features, gamma)[:, None]], axis=1)
  return split_train_test(data)


# ----------------------------------------------------------------------------- files


class _PortablePickler(pickle.Pickler):
  """Pickles arrays as `numpy.array(nested list)`: loadable by any Python and NumPy version."""

  def reducer_override(self, obj):
    if isinstance(obj, np.ndarray):
      return np.array, (obj.tolist(),)
    return NotImplemented


# Globals a data set pickle may name: the portable form and NumPy's own array pickles.
_ALLOWED_PICKLE_GLOBALS = {
    ("numpy", "array"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
  """Loads NumPy arrays only; any other global is refused (pickles can run code)."""

  def find_class(self, module, name):
    if (module, name) not in _ALLOWED_PICKLE_GLOBALS:
      raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
    if name == "_reconstruct":  # numpy.core was renamed numpy._core in NumPy 2.
      try:
        from numpy._core.multiarray import _reconstruct
      except ImportError:
        from numpy.core.multiarray import _reconstruct
      return _reconstruct
    return super().find_class(module, name)


def write_array(path, array):
  """Writes float64 [n, 5] `array` to `path` as a portable pickle (atomically)."""
  temp_path = path + ".tmp"
  with open(temp_path, "wb") as f:
    _PortablePickler(f, protocol=2).dump(np.asarray(array, np.float64))
  os.replace(temp_path, path)


def read_array(path):
  """The float64 [n, 5] array pickled at `path`; `UsageError` if it is not one."""
  try:
    with open(path, "rb") as f:
      # latin1 reads the original's Python 2 pickles of NumPy arrays.
      array = _ArrayOnlyUnpickler(f, encoding="latin1").load()
  except OSError as e:
    raise UsageError(f"cannot read {path}: {e.strerror}") from e
  except Exception as e:  # corrupt pickles raise many types
    raise UsageError(f"{path} is not a MentorNet data set pickle: {e}") from e
  array = np.asarray(array, np.float64)
  if array.ndim != 2 or array.shape[1] != len(COLUMNS):
    raise UsageError(f"{path} holds an array of shape {list(array.shape)}, expected "
                     f"[n, {len(COLUMNS)}] ({', '.join(COLUMNS)})")
  if not np.all(np.isfinite(array)):
    raise UsageError(f"{path} holds non-finite values")
  return array


def write_dataset(outdir, train, test, info):
  """Writes `outdir`/{tr.p, ts.p, dataset_info.json}; returns the info written (with sizes)."""
  os.makedirs(outdir, exist_ok=True)
  write_array(os.path.join(outdir, TRAIN_FILE), train)
  write_array(os.path.join(outdir, TEST_FILE), test)
  info = dict(info, columns=list(COLUMNS), num_train=int(train.shape[0]),
              num_test=int(test.shape[0]))
  with open(os.path.join(outdir, INFO_FILE), "w", encoding="utf-8") as f:
    json.dump(info, f, indent=2, sort_keys=True)
    f.write("\n")
  return info


def read_dataset(data_path, flag_name="data_path"):
  """Reads a data set directory: (train [n, 5], test [m, 5], info dict ({} if no info file)).

  Raises `UsageError` (one line naming --<flag_name>) when the directory or a split is missing,
  unreadable or empty.
  """
  where = f"--{flag_name}={data_path}"
  if not data_path:
    raise UsageError(f"--{flag_name} is required (a directory with {TRAIN_FILE} and {TEST_FILE}"
                     ", written by data_generator.py)")
  if not os.path.isdir(data_path):
    raise UsageError(f"{where} is not a directory")
  splits = []
  for name in (TRAIN_FILE, TEST_FILE):
    path = os.path.join(data_path, name)
    if not os.path.exists(path):
      subdirs = sorted(d for d in os.listdir(data_path)
                       if os.path.exists(os.path.join(data_path, d, name)))
      hint = f" (its subdirectories {', '.join(subdirs[:6])} have one)" if subdirs else ""
      raise UsageError(f"{where} has no {name}{hint}")
    array = read_array(path)
    if not array.shape[0]:
      raise UsageError(f"{where}: {name} holds no examples")
    splits.append(array)
  info = {}
  info_path = os.path.join(data_path, INFO_FILE)
  if os.path.exists(info_path):
    try:
      with open(info_path, encoding="utf-8") as f:
        info = json.load(f)
    except ValueError:
      info = {}
  return splits[0], splits[1], info


def generate_predefined(vstar_name, outdir, sample_size=DEFAULT_SAMPLE_SIZE, gamma=None,
                        seed=0):
  """Writes the predefined data set of `vstar_name` to `outdir`; returns (outdir, info)."""
  spec = vstar_lib.get_vstar(vstar_name)
  if spec.uses_gamma and gamma is None:
    gamma = spec.default_gamma
  train, test = make_predefined_dataset(vstar_name, sample_size, gamma, seed)
  info = {"kind": "predefined", "vstar_fn": vstar_name,
          "vstar_gamma": gamma if spec.uses_gamma else None,
          "sample_size": int(sample_size), "seed": int(seed)}
  return outdir, write_dataset(outdir, train, test, info)


# ----------------------------------------------------------------------------- data-driven


def _parse_dump_line(fields, path, line_number):
  where = f"{path}:{line_number}"
  if len(fields) != len(DUMP_COLUMNS):
    raise UsageError(f"{where}: expected {len(DUMP_COLUMNS)} space-separated fields "
                     f"({' '.join(DUMP_COLUMNS)}), got {len(fields)}")
  values = []
  for column, text in zip(DUMP_COLUMNS, fields):
    try:
      value = float(text)
    except ValueError:
      raise UsageError(f"{where}: {column} {text!r} is not a number")
    if not math.isfinite(value):
      raise UsageError(f"{where}: {column} is {text}, not a finite number")
    if column != "loss" and value != int(value):
      raise UsageError(f"{where}: {column} {text!r} is not an integer")
    values.append(value)
  example_id, epoch, noisy_label, clean_label, loss = values
  if not 0 <= epoch < NUM_EPOCHS:
    raise UsageError(f"{where}: epoch {int(epoch)} is outside 0..{NUM_EPOCHS - 1}")
  if noisy_label < 0 or clean_label < 0:
    raise UsageError(f"{where}: labels must be >= 0, got noisy {int(noisy_label)} clean "
                     f"{int(clean_label)} (a clean label of -1 means it is unknown)")
  if loss < 0:
    raise UsageError(f"{where}: loss {loss:g} is negative")
  return example_id, epoch, noisy_label, clean_label, loss


def read_studentnet_dump(csv_path, flag_name="input_csv_filename"):
  """Reads a StudentNet dump: float64 [n, 5] rows (id, epoch, noisy_label, clean_label, loss).

  Fields are separated by spaces (commas are accepted too); blank lines and lines starting
  with '#' are skipped. Raises `UsageError` naming the file and
  line for a malformed row, and for a missing or empty file.
  """
  if not csv_path:
    raise UsageError(f"--{flag_name} is required for --vstar_fn=data_driven (a StudentNet "
                     "dump: lines 'id epoch noisy_label clean_label loss')")
  if not os.path.isfile(csv_path):
    raise UsageError(f"--{flag_name}={csv_path} does not exist")
  rows = []
  try:
    with open(csv_path, encoding="utf-8") as f:
      for line_number, line in enumerate(f, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
          continue
        rows.append(_parse_dump_line(text.replace(",", " ").split(), csv_path, line_number))
  except UnicodeDecodeError as e:
    raise UsageError(f"--{flag_name}={csv_path} is not a text file ({e.reason})") from e
  if not rows:
    raise UsageError(f"--{flag_name}={csv_path} holds no rows")
  return np.array(rows, np.float64)


def parse_percentiles(text):
  """'40,50,90' -> (40.0, 50.0, 90.0); each in [0, 100]."""
  return tuple(parse_number_list(text, "percentiles", float, 0, 100))


def _percentile_name(percentile):
  return f"{percentile:g}"


def make_data_driven_dataset(dump, percentile, seed=0):
  """One data-driven set from dump rows [n, 5]: (train, test, percentile_loss).

  loss_diff = loss - np.percentile(all losses, percentile); v* = noisy == clean; label 0.
  """
  losses = dump[:, 4]
  percentile_loss = float(np.percentile(losses, percentile))
  v_star = np.float64(dump[:, 2] == dump[:, 3])
  data = np.stack([losses, losses - percentile_loss, np.zeros_like(losses), dump[:, 1], v_star],
                  axis=1)
  data = data[np.random.default_rng(seed).permutation(data.shape[0])]
  train, test = split_train_test(data)
  return train, test, percentile_loss


def generate_data_driven(csv_path, outdir, percentiles=DEFAULT_PERCENTILES, seed=0):
  """Writes `<outdir>/<csv name>_percentile_<p>/` for each p; returns [(dir, info)]."""
  dump = read_studentnet_dump(csv_path)
  dataset_name = os.path.splitext(os.path.basename(csv_path))[0]
  written = []
  for percentile in percentiles:
    train, test, percentile_loss = make_data_driven_dataset(dump, percentile, seed)
    info = {"kind": "data_driven", "vstar_fn": "data_driven",
            "input_csv_filename": os.path.basename(csv_path), "percentile": percentile,
            "percentile_loss": percentile_loss, "num_dump_rows": int(dump.shape[0]),
            "clean_fraction": float(np.mean(dump[:, 2] == dump[:, 3])),
            "dump_epochs": sorted({int(e) for e in dump[:, 1]}), "seed": int(seed)}
    cur_outdir = os.path.join(outdir,
                              f"{dataset_name}_percentile_{_percentile_name(percentile)}")
    written.append((cur_outdir, write_dataset(cur_outdir, train, test, info)))
  return written
