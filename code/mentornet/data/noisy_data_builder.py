"""Builds the noisy-label TFRecord sets the original MentorNet used but shipped no tool for.

Layout written under `output_dir`:
  <name>/<p>/<name>_train-0000i-of-0000N   training split, label corrupted with nominal fraction p
  <name>/<p>/manifest.json                 provenance, realized noise, class counts, per-file counts
  <name>/human_<key>/...                   the same, labels of <key> in a CIFAR-N file (human noise)
  <name>/val/<name>_test-0000i-of-0000N    the clean test split (and its manifest.json)
Every record also holds its clean label and example id (see `mentornet.data.records`); CIFAR-100
coarse labels are copied from the source uncorrupted.
All inputs are checked, and existing outputs refused without `overwrite`, before anything is
written; TensorFlow is imported only once the checks pass.
"""
import hashlib
import io
import json
import os
import tarfile

import numpy as np

from mentornet import __version__
from mentornet.config.datasets import get_dataset_info
from mentornet.data import human_noise
from mentornet.data import noise
from mentornet.data import npz_splits
from mentornet.errors import UsageError
from mentornet.errors import parse_number_list

VAL_DIR_NAME = "val"
SOURCE_TFDS = "tfds"
SOURCE_EMBEDDED = "embedded"
CIFAR_ARCHIVE_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}
# Folder inside the CIFAR python archive, and the pickles of each split in it.
CIFAR_PYTHON_LAYOUT = {
    "cifar10": ("cifar-10-batches-py",
                {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}),
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]}),
}
MANIFEST_FORMAT_VERSION = 1


def noise_dir_name(fraction):
  """Directory name of a noise fraction, as in the original layout: 0.2 -> "0.2", 0 -> "0.0"."""
  return str(float(fraction))


def parse_noise_fractions(noise_fractions):
  """"0.2,0.4" or a sequence of numbers/strings -> list of floats in [0, 1], duplicates dropped."""
  fractions = []
  for value in parse_number_list(noise_fractions, "noise_fractions", float, 0.0, 1.0,
                                 example="0.2,0.4,0.8"):
    if noise_dir_name(value) not in map(noise_dir_name, fractions):
      fractions.append(value)
  return fractions


def derived_seed(seed, fraction):
  """Seed of one noise fraction: depends on (seed, fraction) only, so the labels of a fraction
  are the same whichever other fractions are built in the same run."""
  sequence = np.random.SeedSequence([int(seed), int(round(fraction * 1_000_000))])
  return int(sequence.generate_state(1)[0])


# ----------------------------------------------------------------------------- source loading


class _ArrayOnlyUnpickler(human_noise.NumpyArrayUnpickler):
  """Unpickles the CIFAR python batches: plain containers and numpy arrays, no other code."""
  OTHER_GLOBALS = human_noise.NumpyArrayUnpickler.OTHER_GLOBALS | {
      ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("__builtin__", "object"),
      ("builtins", "object")}


def _unpickle_batch(data, where):
  try:
    return _ArrayOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
  except Exception as e:  # Any decoding failure means the file is not a CIFAR batch.
    raise UsageError(f"{where} is not a readable CIFAR python batch ({type(e).__name__}: {e})")


def _cifar_rows_to_images(rows, where):
  rows = np.asarray(rows, dtype=np.uint8)
  if rows.ndim != 2 or rows.shape[1] != 3 * 32 * 32:
    raise UsageError(f"{where}: expected rows of 3072 bytes, got shape {rows.shape}")
  return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> NHWC


def _read_cifar_members(source, dataset_name):
  """Returns {member name: bytes} of the pickles of `dataset_name` in a CIFAR python folder
  (or its parent) or tar archive; UsageError naming what is missing or mismatched."""
  folder, members_by_split = CIFAR_PYTHON_LAYOUT[dataset_name]
  wanted = [member for members in members_by_split.values() for member in members]
  contents = {}
  if os.path.isdir(source):
    base = os.path.join(source, folder) if os.path.isdir(os.path.join(source, folder)) else source
    available = set(os.listdir(base))
    for member in set(wanted) & available:
      with open(os.path.join(base, member), "rb") as f:
        contents[member] = f.read()
  else:
    try:
      with tarfile.open(source, "r:*") as archive:
        files = [m for m in archive.getmembers() if m.isfile()]
        available = {os.path.basename(m.name) for m in files}
        for m in files:
          if os.path.basename(m.name) in wanted:
            contents[os.path.basename(m.name)] = archive.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
      raise UsageError(f"--source={source} is not a readable tar archive ({e})") from None
  missing = [member for member in wanted if member not in contents]
  if missing:
    for other_name, (other_folder, other_members) in CIFAR_PYTHON_LAYOUT.items():
      if other_name != dataset_name and set(other_members["train"]) <= available:
        raise UsageError(f"--source={source} holds {other_name} ({other_folder}), not "
                         f"--dataset_name={dataset_name}")
    raise UsageError(f"--source={source} lacks {', '.join(missing)}; expected the {folder} "
                     f"folder of {CIFAR_ARCHIVE_URLS[dataset_name]}")
  return contents


def _load_cifar_python(source, info):
  """Reads a CIFAR python directory/archive: {"train": split, "test": split} of numpy arrays."""
  if info.name not in CIFAR_PYTHON_LAYOUT:
    raise UsageError(f"--source={source} is a CIFAR python archive/directory; it cannot "
                     f"provide --dataset_name={info.name}")
  contents = _read_cifar_members(source, info.name)
  _, members_by_split = CIFAR_PYTHON_LAYOUT[info.name]
  splits = {}
  for split, members in members_by_split.items():
    images, labels, coarse = [], [], []
    for member in members:
      where = f"--source={source}: {member}"
      batch = _unpickle_batch(contents[member], where)
      label_key = b"labels" if info.name == "cifar10" else b"fine_labels"
      if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise UsageError(f"{where} lacks the keys b'data' and {label_key!r}")
      images.append(_cifar_rows_to_images(batch[b"data"], where))
      labels.append(np.asarray(batch[label_key], dtype=np.int64))
      if info.name == "cifar100":
        coarse.append(np.asarray(batch[b"coarse_labels"], dtype=np.int64))
    splits[split] = {"image": np.concatenate(images), "label": np.concatenate(labels)}
    if coarse:
      splits[split]["coarse_label"] = np.concatenate(coarse)
  return splits


def _load_tfds(info):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow_datasets as tfds  # Heavy; only this source needs it.

  try:
    train, test = tfds.as_numpy(tfds.load(info.name, split=["train", "test"], batch_size=-1,
                                          download=True))
  except Exception as e:  # Network, DNS, checksum or disk failures all end here.
    reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
    if info.name in CIFAR_ARCHIVE_URLS:
      manual = (f"download {CIFAR_ARCHIVE_URLS[info.name]} on a machine with network and pass "
                f"--source=<path to it>, or copy a prepared ~/tensorflow_datasets/{info.name} "
                f"folder here")
    else:
      manual = "use --source=embedded (5,000 digits, offline)"
    raise UsageError(f"could not get {info.name} from TensorFlow Datasets ({reason}); offline, "
                     f"{manual}") from None
  splits = {}
  for split, features in (("train", train), ("test", test)):
    order = slice(None)
    if "id" in features:  # TFDS stores examples shuffled; ids "train_00042" give CIFAR order.
      order = np.argsort([int(i.split(b"_")[-1]) for i in features["id"]])
    splits[split] = {"image": features["image"][order], "label": features["label"][order]}
    if "coarse_label" in features:
      splits[split]["coarse_label"] = features["coarse_label"][order]
  return splits


def _load_embedded():
  from mentornet.data import embedded

  x_train, y_train, x_test, y_test = embedded.load_embedded()
  return {"train": {"image": x_train, "label": y_train},
          "test": {"image": x_test, "label": y_test}}


def _source_kind(source, info):
  """Checks `source` without reading it; returns "tfds", "embedded", "npz" or "cifar_python"."""
  if source == SOURCE_TFDS:
    return source
  if source == SOURCE_EMBEDDED:
    if info.name != "mnist":
      raise UsageError(f"--source=embedded holds MNIST digits; use it with --dataset_name=mnist, "
                       f"not {info.name}")
    return source
  if not os.path.exists(source):
    raise UsageError(f"--source={source} does not exist (give tfds, embedded, a .npz file, or a "
                     f"CIFAR python folder or .tar.gz archive)")
  if os.path.isfile(source) and source.endswith(".npz"):
    return "npz"
  if os.path.isdir(source) or source.endswith((".tar.gz", ".tgz", ".tar")):
    if info.name not in CIFAR_PYTHON_LAYOUT:
      raise UsageError(f"--source={source} looks like a CIFAR python archive/folder; it cannot "
                       f"provide --dataset_name={info.name}")
    return "cifar_python"
  raise UsageError(f"--source={source} is neither a .npz file nor a CIFAR python folder or "
                   f".tar.gz archive")


def _as_rgb_images(images, info, where):
  """uint8 [N, S, S, 3] from [N, S, S, 3], gray [N, S, S] / [N, S, S, 1], or 28x28 digits."""
  from mentornet.data import embedded

  images = np.asarray(images)
  if images.dtype != np.uint8:
    if (not np.issubdtype(images.dtype, np.number) or images.size and (
        images.min() < 0 or images.max() > 255 or not np.array_equal(images, np.rint(images)))):
      raise UsageError(f"{where} must hold uint8 pixels (0..255), got {images.dtype}")
    images = images.astype(np.uint8)
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  if images.ndim == 3:
    images = (embedded.to_rgb32(images) if images.shape[1:] == (28, 28) and info.image_size == 32
              else np.repeat(images[..., np.newaxis], 3, axis=-1))
  size = info.image_size
  if images.shape[1:] != (size, size, 3):
    raise UsageError(f"{where} must hold {size}x{size}x3 images (NHWC), got shape {images.shape}")
  return images


def _checked_split(split_arrays, info, source, split):
  """Validates one loaded split; returns {"image", "label"[, "coarse_label"]} numpy arrays."""
  where = f"--source={source} {split} split"
  images = _as_rgb_images(split_arrays["image"], info, f"{where} images")
  labels = np.asarray(split_arrays["label"])
  if labels.ndim == 2 and labels.shape[1] == 1:  # keras.datasets.*.load_data() gives [N, 1].
    labels = labels[:, 0]
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
    raise UsageError(f"{where} labels must be a 1-D integer array, got {labels.dtype} "
                     f"{labels.shape}")
  if len(labels) != len(images):
    raise UsageError(f"{where} has {len(images)} images but {len(labels)} labels")
  if labels.size and (labels.min() < 0 or labels.max() >= info.num_classes):
    raise UsageError(f"{where} labels span [{labels.min()}, {labels.max()}]; {info.name} has "
                     f"{info.num_classes} classes")
  checked = {"image": images, "label": labels.astype(np.int64)}
  if "coarse_label" in split_arrays:
    coarse = np.asarray(split_arrays["coarse_label"], dtype=np.int64).reshape(-1)
    if len(coarse) != len(labels):
      raise UsageError(f"{where} has {len(labels)} labels but {len(coarse)} coarse labels")
    checked["coarse_label"] = coarse
  if "cifar_index" in split_arrays:
    checked["cifar_index"] = np.asarray(split_arrays["cifar_index"])
  return checked


def load_source(source, dataset_name):
  """Loads `source` as {"train": split, "test": split}; a split is a dict of `image` uint8
  [N, S, S, 3], `label` int64 [N] and, for CIFAR-100 when known, `coarse_label` int64 [N];
  the training split of an npz with `train_index` also has `cifar_index` [N] (the CIFAR
  training index of each image). TFDS and the CIFAR python files come in CIFAR order."""
  info = get_dataset_info(dataset_name)
  kind = _source_kind(source, info)
  if kind == SOURCE_TFDS:
    splits = _load_tfds(info)
  elif kind == SOURCE_EMBEDDED:
    splits = _load_embedded()
  elif kind == "npz":
    splits = npz_splits.read_npz(source, flag="--source")
  else:
    splits = _load_cifar_python(source, info)
  return {split: _checked_split(arrays, info, source, split) for split, arrays in splits.items()}


def fingerprint(split):
  """sha256 hex digest of a split's images and labels (identifies the source in manifests)."""
  digest = hashlib.sha256()
  for key in ("image", "label", "coarse_label"):
    if key in split:
      digest.update(key.encode())
      digest.update(np.ascontiguousarray(split[key]).tobytes())
  return digest.hexdigest()


# ----------------------------------------------------------------------------- writing


def _is_nonempty_dir(path):
  return os.path.isdir(path) and bool(os.listdir(path))


def _check_output_dir(path, overwrite, what="is not empty"):
  """UsageError when `path` is a file, or a non-empty directory and not `overwrite`."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise UsageError(f"{path} exists and is not a directory")
  if _is_nonempty_dir(path) and not overwrite:
    raise UsageError(f"{path} already exists and {what}; pass --overwrite to replace its "
                     f"records, or choose another --output_dir")


def _val_dir_is_current(val_dir, dataset_name, test_fingerprint):
  """True when `val_dir` already holds the test split of the same source, intact."""
  manifest = _read_json(os.path.join(val_dir, "manifest.json"))
  if not manifest or manifest.get("source_sha256") != test_fingerprint:
    return False
  if manifest.get("dataset_name") != dataset_name:
    return False
  file_info = manifest.get("file_info", {})
  return bool(file_info) and all(
      os.path.isfile(os.path.join(val_dir, name)) and
      os.path.getsize(os.path.join(val_dir, name)) == entry.get("num_bytes")
      for name, entry in file_info.items())


def _read_json(path):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _remove_old_records(directory, dataset_name, split):
  """Deletes the record files, their temporaries and the manifest that a former run left."""
  if not os.path.isdir(directory):
    return
  prefix = f"{dataset_name}_{split}-"
  for name in os.listdir(directory):
    if name.startswith((prefix, "." + prefix)) or name == "manifest.json":
      os.remove(os.path.join(directory, name))


def _write_json_atomically(path, content):
  temp_path = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
  with open(temp_path, "w", encoding="utf-8") as f:
    json.dump(content, f, indent=2)
    f.write("\n")
  os.replace(temp_path, path)


def _write_split(directory, dataset_name, split, columns, num_shards, manifest):
  """Writes the records of one split and then its manifest (last: it marks a complete dir)."""
  from mentornet.data import records

  shards = records.write_shards(directory, dataset_name, split, columns, num_shards)
  names = [os.path.basename(shard.path) for shard in shards]
  manifest = dict(manifest)
  manifest["files"] = names
  manifest["file_info"] = {
      name: {"num_examples": shard.num_examples, "num_bytes": os.path.getsize(shard.path)}
      for name, shard in zip(names, shards)}
  _write_json_atomically(os.path.join(directory, records.MANIFEST_NAME), manifest)
  return manifest


def build_noisy_datasets(dataset_name, source=None, noise_type="symmetric",
                         noise_fractions=(0.2, 0.4, 0.8), seed=0, output_dir="data",
                         num_shards=10, overwrite=False, log=print, human_labels_file=None,
                         human_label_key=None):
  """Writes noisy training sets and the clean test set of `dataset_name` under `output_dir`.

  Args:
    dataset_name: cifar10, cifar100 or mnist.
    source: "tfds" (TensorFlow Datasets, downloads), "embedded" (mnist only), a `.npz` with
      x_train, y_train and x_test, y_test (or x_val, y_val), or a CIFAR python folder or
      `.tar.gz` archive. None: "embedded" for mnist, else "tfds".
    noise_type: "symmetric" or "asymmetric" (see `mentornet.data.noise.corrupt_labels`), or
      "human": the labels of `human_label_key` in `human_labels_file`
      (`mentornet.data.human_noise`),
      written to <name>/human_<key>/; the source must be the whole training set in CIFAR order
      (tfds, the python archive) or an npz whose `train_index` names each image.
    noise_fractions: nominal fractions p in [0, 1]; "0.2,0.4" or a sequence (not for human).
    seed: non-negative int; each fraction uses `derived_seed(seed, p)`.
    output_dir: root of the layout described in the module docstring.
    num_shards: record files per split (fewer when there are fewer examples).
    overwrite: replace the records of existing non-empty noise/val directories.
    log: called with one progress line per directory written.
    human_labels_file: a CIFAR-10N / CIFAR-100N `.pt` or `.npy` file (human noise only).
    human_label_key: its label key; None: `human_noise.DEFAULT_KEYS[dataset_name]`.

  Returns:
    dict {directory path: its manifest dict} of the directories written (or kept, for val/).

  Raises:
    UsageError: on any bad argument or input, before anything is written.
  """
  info = get_dataset_info(dataset_name)
  if source is None or source == "":
    source = SOURCE_EMBEDDED if info.name == "mnist" else SOURCE_TFDS
  noise_types = noise.NOISE_TYPES + (human_noise.NOISE_TYPE,)
  if noise_type not in noise_types:
    raise UsageError(f"unknown --noise_type={noise_type}; choose one of {', '.join(noise_types)}")
  human = noise_type == human_noise.NOISE_TYPE
  if not human and (human_labels_file or human_label_key):
    raise UsageError(f"--human_labels_file and --human_label_key need --noise_type=human, not "
                     f"{noise_type}")
  fractions = [None] if human else parse_noise_fractions(noise_fractions)
  if not isinstance(seed, (int, np.integer)) or seed < 0:
    raise UsageError(f"--seed must be a non-negative integer, got {seed}")
  if not isinstance(num_shards, (int, np.integer)) or num_shards < 1:
    raise UsageError(f"--num_shards must be a positive integer, got {num_shards}")
  if noise_type == "asymmetric":
    noise.asymmetric_flips(info.name, info.num_classes)
  if human:
    human_label_key = human_noise.resolve_key(info.name, human_label_key)
    human_labels, human_clean = human_noise.load_labels(human_labels_file, human_label_key,
                                                        info.num_classes)
  source_kind = _source_kind(source, info)
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise UsageError(f"--output_dir={output_dir} exists and is not a directory")
  dataset_dir = os.path.join(output_dir, info.name)
  noise_dirs = [os.path.join(dataset_dir, human_noise.noise_dir_name(human_label_key) if human
                             else noise_dir_name(p)) for p in fractions]
  for directory in noise_dirs:
    _check_output_dir(directory, overwrite)

  splits = load_source(source, info.name)
  train, test = splits["train"], splits["test"]
  train_fingerprint, test_fingerprint = fingerprint(train), fingerprint(test)
  if human:
    if source_kind == "npz" and "cifar_index" not in train:
      raise UsageError(f"--source={source} has no train_index (the CIFAR training index of each "
                       f"image), which human labels need")
    human_noisy = human_noise.align(human_labels, human_clean, train["label"],
                                    train.get("cifar_index"),
                                    f"--human_labels_file={human_labels_file}")
  val_dir = os.path.join(dataset_dir, VAL_DIR_NAME)
  keep_val = (not overwrite and _is_nonempty_dir(val_dir) and
              _val_dir_is_current(val_dir, info.name, test_fingerprint))
  if not keep_val:
    _check_output_dir(val_dir, overwrite, what="holds another (or an incomplete) test split")

  # Every check has passed: from here on files are written.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  from mentornet.data import records

  source_record = source if source in (SOURCE_TFDS, SOURCE_EMBEDDED) else os.path.abspath(source)
  common = {"format_version": MANIFEST_FORMAT_VERSION,
            "created_by": f"mentornet.data.noisy_data_builder {__version__}",
            "dataset_name": info.name, "num_classes": info.num_classes,
            "label_key": info.label_key, "source": source_record}
  written = {}
  clean_counts = np.bincount(train["label"], minlength=info.num_classes).tolist()
  train_png = records.encode_png_batch(train["image"]) if len(train["label"]) else []
  for fraction, directory in zip(fractions, noise_dirs):
    if human:
      noisy = human_noisy
      noise_fields = {"human_label_key": human_label_key,
                      "human_labels_file": os.path.abspath(human_labels_file),
                      "human_labels_sha256": human_noise.file_sha256(human_labels_file)}
      description = f"human labels {human_label_key}"
    else:
      noise_seed = derived_seed(seed, fraction)
      noisy = noise.corrupt_labels(train["label"], info.num_classes, noise_type, fraction,
                                   noise_seed, dataset_name=info.name)
      noise_fields = {"noise_seed": noise_seed}
      description = f"{noise_type} noise {fraction}"
    realized = float(np.mean(noisy != train["label"])) if len(noisy) else 0.0
    columns = {"encoded": train_png, "label": noisy, "clean_label": train["label"],
               "id": np.arange(len(noisy), dtype=np.int64)}
    if "coarse_label" in train:
      columns["coarse_label"] = train["coarse_label"]
    manifest = dict(common, split="train", source_sha256=train_fingerprint,
                    noise_type=noise_type, noise_fraction=fraction, realized_noise=realized,
                    seed=int(seed), num_examples=int(len(noisy)),
                    per_class_counts=np.bincount(noisy, minlength=info.num_classes).tolist(),
                    clean_per_class_counts=clean_counts, **noise_fields)
    _remove_old_records(directory, info.name, "train")
    written[directory] = _write_split(directory, info.name, "train", columns, num_shards,
                                      manifest)
    log(f"wrote {directory}: {len(noisy)} examples, {description}, realized {realized:.4f}")

  if keep_val:
    written[val_dir] = _read_json(os.path.join(val_dir, records.MANIFEST_NAME))
    log(f"kept {val_dir}: it already holds this source's test split")
  else:
    test_counts = np.bincount(test["label"], minlength=info.num_classes).tolist()
    columns = {"image": test["image"], "label": test["label"], "clean_label": test["label"],
               "id": np.arange(len(test["label"]), dtype=np.int64)}
    if "coarse_label" in test:
      columns["coarse_label"] = test["coarse_label"]
    manifest = dict(common, split="test", source_sha256=test_fingerprint, noise_type=None,
                    noise_fraction=0.0, realized_noise=0.0, seed=int(seed),
                    num_examples=int(len(test["label"])), per_class_counts=test_counts,
                    clean_per_class_counts=test_counts)
    _remove_old_records(val_dir, info.name, "test")
    written[val_dir] = _write_split(val_dir, info.name, "test", columns, num_shards, manifest)
    log(f"wrote {val_dir}: {len(test['label'])} clean test examples")
  return written
