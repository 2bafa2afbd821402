"""Human label noise (CIFAR-10N / CIFAR-100N): reading both file forms without torch, alignment
by CIFAR training index, the clean-label check, manifests, refusals, reproduce_small."""
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import REPO_ROOT
from conftest import subprocess_env
from mentornet.data import human_noise
from mentornet.data import noisy_data_builder
from mentornet.data import records
from mentornet.errors import UsageError

FILE_SIZE = 50  # Labels in the tiny label files (CIFAR-N has 50,000).


def _label_dict(clean, seed=0, num_classes=10):
  """A CIFAR-10N-like dict: the clean labels and human labels made from them."""
  rng = np.random.default_rng(seed)
  clean = np.asarray(clean, dtype=np.int64)
  worse = clean.copy()
  flip = rng.permutation(len(clean))[:len(clean) * 2 // 5]  # Exactly 40% wrong.
  worse[flip] = (clean[flip] + 1 + rng.integers(0, num_classes - 1, len(flip))) % num_classes
  return {"clean_label": clean, "aggre_label": clean.copy(), "worse_label": worse,
          "random_label1": clean[rng.permutation(len(clean))]}


def write_pt(path, contents, protocol=2, top="CIFAR-10_human"):
  """A torch-free `.pt`: a zip with <top>/data.pkl (a pickle of `contents`) and <top>/version,
  pickled as torch.save does (protocol 2, here with NumPy 1.x module names)."""
  data = pickle.dumps(contents, protocol=protocol)
  if protocol == 2:  # Newline-terminated global names: safe to rename.
    data = data.replace(b"numpy._core.", b"numpy.core.")
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr(f"{top}/data.pkl", data)
    archive.writestr(f"{top}/version", "3\n")
  return path


def write_npy(path, contents):
  np.save(path, contents, allow_pickle=True)
  return path


def _tiny_npz(path, clean, train_index=None, seed=0):
  rng = np.random.default_rng(seed)
  index = np.arange(len(clean)) if train_index is None else np.asarray(train_index)
  arrays = {"x_train": rng.integers(0, 256, (len(index), 32, 32, 3), dtype=np.uint8),
            "y_train": np.asarray(clean)[index],
            "x_test": rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
            "y_test": np.arange(6) % 10}
  if train_index is not None:
    arrays["train_index"] = index
  np.savez(path, **arrays)
  return path


def _read_train(directory, name="cifar10"):
  return records.read_all(records.list_record_files(str(directory), name, "train"), name)


def _run_script(cwd, *args):
  return subprocess.run([sys.executable, str(REPO_ROOT / "data_tools" / "make_noisy_data.py"),
                         *args], cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                        timeout=300)


def test_both_file_forms_read_the_same_without_torch(tmp_path):
  contents = _label_dict(np.arange(FILE_SIZE) % 10)
  for path in (write_pt(tmp_path / "a.pt", contents), write_npy(tmp_path / "a.npy", contents),
               write_pt(tmp_path / "b.pt", contents, protocol=4, top="archive")):
    read = human_noise.read_label_file(str(path))
    assert list(read) == list(contents), path
    for key, labels in contents.items():
      np.testing.assert_array_equal(read[key], labels)
  human, clean = human_noise.load_labels(str(tmp_path / "a.pt"), "worse_label", 10)
  assert human.dtype == clean.dtype == np.int64
  assert np.mean(human != clean) == pytest.approx(0.4)
  assert "torch" not in sys.modules


def test_npz_subset_is_aligned_by_train_index(tmp_path):
  clean = np.random.default_rng(1).integers(0, 10, FILE_SIZE)
  contents = _label_dict(clean)
  train_index = np.sort(np.random.default_rng(2).permutation(FILE_SIZE)[:30])
  npz = _tiny_npz(tmp_path / "subset.npz", clean, train_index)
  label_file = write_pt(tmp_path / "CIFAR-10_human.pt", contents)
  written = noisy_data_builder.build_noisy_datasets(
      "cifar10", str(npz), noise_type="human", human_labels_file=str(label_file),
      output_dir=str(tmp_path / "out"), num_shards=2, log=lambda _: None)
  directory = tmp_path / "out" / "cifar10" / "human_worse_label"
  assert set(written) == {str(directory), str(tmp_path / "out" / "cifar10" / "val")}
  train = _read_train(directory)
  np.testing.assert_array_equal(train["label"], contents["worse_label"][train_index])
  np.testing.assert_array_equal(train["clean_label"], clean[train_index])
  np.testing.assert_array_equal(train["id"], np.arange(30))
  manifest = json.loads((directory / "manifest.json").read_text())
  realized = float(np.mean(contents["worse_label"][train_index] != clean[train_index]))
  assert realized > 0 and manifest["realized_noise"] == pytest.approx(realized)
  assert manifest["noise_type"] == "human" and manifest["noise_fraction"] is None
  assert manifest["human_label_key"] == "worse_label"
  assert manifest["human_labels_file"] == str(label_file)
  assert manifest["human_labels_sha256"] == human_noise.file_sha256(str(label_file))
  assert manifest["num_examples"] == 30
  # Another key of the same file (the .npy form) goes to its own directory.
  noisy_data_builder.build_noisy_datasets(
      "cifar10", str(npz), noise_type="human", human_label_key="random_label1",
      human_labels_file=str(write_npy(tmp_path / "CIFAR-10_human.npy", contents)),
      output_dir=str(tmp_path / "out"), num_shards=1, log=lambda _: None)
  np.testing.assert_array_equal(_read_train(tmp_path / "out" / "cifar10" / "human_random_label1")
                                ["label"], contents["random_label1"][train_index])


def _write_cifar_python(folder, batches, name="cifar10"):
  """CIFAR python pickles: `batches` is {member: labels}."""
  folder.mkdir()
  label_key = b"labels" if name == "cifar10" else b"fine_labels"
  for member, labels in batches.items():
    batch = {b"data": np.full((len(labels), 3072), len(labels), np.uint8),
             label_key: list(map(int, labels))}
    if name == "cifar100":
      batch[b"coarse_labels"] = [0] * len(labels)
    (folder / member).write_bytes(pickle.dumps(batch, protocol=2))


def test_full_training_set_sources_align_by_position(tmp_path):
  clean = np.random.default_rng(3).integers(0, 10, 20)
  _write_cifar_python(tmp_path / "cifar-10-batches-py", {
      **{f"data_batch_{i + 1}": clean[4 * i:4 * i + 4] for i in range(5)},
      "test_batch": np.arange(3)})
  contents = _label_dict(clean)
  label_file = write_npy(tmp_path / "labels.npy", contents)
  noisy_data_builder.build_noisy_datasets(
      "cifar10", str(tmp_path / "cifar-10-batches-py"), noise_type="human",
      human_labels_file=str(label_file), output_dir=str(tmp_path / "out"), log=lambda _: None)
  train = _read_train(tmp_path / "out" / "cifar10" / "human_worse_label")
  np.testing.assert_array_equal(train["label"], contents["worse_label"])
  np.testing.assert_array_equal(train["clean_label"], clean)
  # CIFAR-100N: default key noisy_label, labels up to 99.
  clean100 = np.arange(6) * 17 % 100
  _write_cifar_python(tmp_path / "cifar-100-python", {"train": clean100, "test": [5]},
                      "cifar100")
  noisy100 = (clean100 + np.array([0, 1, 0, 0, 50, 0])) % 100
  label_file = write_pt(tmp_path / "CIFAR-100_human.pt", {
      "clean_label": clean100, "noisy_label": noisy100,
      "noisy_coarse_label": np.zeros(6, np.int64), "clean_coarse_label": np.zeros(6, np.int64)})
  written = noisy_data_builder.build_noisy_datasets(
      "cifar100", str(tmp_path / "cifar-100-python"), noise_type="human",
      human_labels_file=str(label_file), output_dir=str(tmp_path / "out"), log=lambda _: None)
  manifest = written[str(tmp_path / "out" / "cifar100" / "human_noisy_label")]
  assert manifest["realized_noise"] == pytest.approx(2 / 6)
  np.testing.assert_array_equal(
      _read_train(tmp_path / "out" / "cifar100" / "human_noisy_label", "cifar100")["label"],
      noisy100)


def test_tfds_source_is_put_back_in_cifar_order(monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  order = np.array([3, 0, 4, 1, 2])

  def shuffled_load(name, split, batch_size, download):
    del name, batch_size, download
    return [{"image": np.full((5, 32, 32, 3), order[:, None, None, None], np.uint8),
             "label": order, "id": np.array([f"{s}_{i:05d}".encode() for i in order])}
            for s in split]

  monkeypatch.setattr(tfds, "load", shuffled_load)
  monkeypatch.setattr(tfds, "as_numpy", lambda tree: tree)
  splits = noisy_data_builder.load_source("tfds", "cifar10")
  for split in ("train", "test"):
    np.testing.assert_array_equal(splits[split]["label"], np.arange(5))
    np.testing.assert_array_equal(splits[split]["image"][:, 0, 0, 0], np.arange(5))


def test_clean_label_mismatch_names_the_first_differing_image(tmp_path):
  clean = np.arange(FILE_SIZE) % 10
  train_index = np.arange(5, 25)
  npz = _tiny_npz(tmp_path / "subset.npz", clean, train_index)
  contents = _label_dict(clean)
  contents["clean_label"] = contents["clean_label"].copy()
  contents["clean_label"][[12, 20]] = (clean[[12, 20]] + 1) % 10
  label_file = write_pt(tmp_path / "labels.pt", contents)
  with pytest.raises(UsageError) as error:
    noisy_data_builder.build_noisy_datasets(
        "cifar10", str(npz), noise_type="human", human_labels_file=str(label_file),
        output_dir=str(tmp_path / "out"))
  message = str(error.value)
  assert "clean_label[12] is 3" in message and "training image 7 (CIFAR index 12)" in message
  assert "has label 2" in message and "(2 of 20 differ)" in message
  assert not (tmp_path / "out").exists()


class _RunsCode:
  def __reduce__(self):
    return (os.getcwd, ())


class _TorchTensor:
  """Pickles with a persistent id, as torch.save stores a tensor's storage."""


class _TorchLikePickler(pickle.Pickler):
  def persistent_id(self, obj):
    return ("storage", "LongStorage", "0", "cpu", 3) if isinstance(obj, _TorchTensor) else None


def _bad_files(tmp_path):
  """{name: path} of label files that must be refused."""
  good = _label_dict(np.arange(FILE_SIZE) % 10)
  code = tmp_path / "code.pt"
  write_pt(code, {"clean_label": good["clean_label"], "worse_label": _RunsCode()})
  tensor = tmp_path / "tensor.pt"
  buffer = io.BytesIO()
  _TorchLikePickler(buffer, protocol=2).dump({"worse_label": _TorchTensor()})
  with zipfile.ZipFile(tensor, "w") as archive:
    archive.writestr("archive/data.pkl", buffer.getvalue())
  return {
      "code": code, "tensor": tensor,
      "list": write_pt(tmp_path / "list.pt", {"clean_label": good["clean_label"],
                                               "worse_label": [0] * FILE_SIZE}),
      "plain_npy": tmp_path / "plain.npy",
      "short": write_npy(tmp_path / "short.npy", {**good, "worse_label": good["worse_label"][:9]}),
      "range": write_npy(tmp_path / "range.npy", {**good, "worse_label": good["worse_label"] + 5}),
      "good": write_pt(tmp_path / "good.pt", good),
  }


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("code", "posix.getcwd, which is not a NumPy array"),
    ("tensor", "holds PyTorch tensors"),
    ("list", "holds a list under 'worse_label', not a NumPy array"),
    ("plain_npy", "not the dict of label arrays"),
    ("text", "neither a PyTorch zip archive (.pt) nor a .npy file"),
    ("unknown_key", "has no 'best_label' (--human_label_key); its keys: clean_label, "
                    "aggre_label, worse_label, random_label1"),
    ("short", "'worse_label' has 9 labels but 'clean_label' has 50"),
    ("range", "'worse_label' spans [5, 14], outside the 10 classes"),
    ("no_train_index", "has no train_index"),
    ("beyond_file", "has 50 labels but train_index reaches [40, 59]"),
    ("full_set_length", "has 50 labels but the training set has 20 images"),
    ("fractions", "--noise_fractions does not apply to --noise_type=human"),
    ("not_human", "need --noise_type=human"),
    ("mnist", "human label files exist for cifar10, cifar100"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case, message):
  files = _bad_files(tmp_path)
  np.save(files["plain_npy"], np.arange(FILE_SIZE))
  files["text"] = tmp_path / "labels.pt"
  files["text"].write_text("clean_label,worse_label\n")
  clean = np.arange(FILE_SIZE) % 10
  npz = _tiny_npz(tmp_path / "subset.npz", clean, np.arange(10, 30))
  args = ["--noise_type=human", f"--human_labels_file={files['good']}", f"--source={npz}"]
  if case == "missing":
    args[1] = f"--human_labels_file={tmp_path / 'CIFAR-10_human.pt'}"
  elif case in files:
    args[1] = f"--human_labels_file={files[case]}"
  elif case == "unknown_key":
    args.append("--human_label_key=best_label")
  elif case == "no_train_index":
    args[2] = f"--source={_tiny_npz(tmp_path / 'plain.npz', clean[:20])}"
  elif case == "beyond_file":
    args[2] = f"--source={_tiny_npz(tmp_path / 'far.npz', np.arange(60) % 10, np.arange(40, 60))}"
  elif case == "full_set_length":
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_python(folder, {**{f"data_batch_{i}": clean[:4] for i in range(1, 6)},
                                 "test_batch": [1]})
    args[2] = f"--source={folder}"
  elif case == "fractions":
    args.append("--noise_fractions=0.4")
  elif case == "not_human":
    args[0] = "--noise_type=symmetric"
  elif case == "mnist":
    args[2:] = ["--source=embedded", "--dataset_name=mnist"]
  result = _run_script(tmp_path, *args, "--output_dir=out")
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
  assert not (tmp_path / "out").exists()


def test_cifar_subset_gets_exactly_the_file_labels_at_train_index(cifar_subset_path, tmp_path):
  """Acceptance: the shared subset and a 50,000-label file made by a fixed permutation."""
  source = np.load(cifar_subset_path)
  index, y_train = source["train_index"], source["y_train"]
  rng = np.random.default_rng(0)
  clean = rng.integers(0, 10, 50_000)
  clean[index] = y_train
  permuted = clean[rng.permutation(50_000)]
  label_file = write_pt(tmp_path / "CIFAR-10_human.pt",
                        {"clean_label": clean, "aggre_label": clean, "worse_label": permuted})
  result = _run_script(tmp_path, f"--source={cifar_subset_path}", "--noise_type=human",
                       f"--human_labels_file={label_file}", "--output_dir=out",
                       "--num_shards=2")
  assert result.returncode == 0, result.stderr[-2000:]
  directory = tmp_path / "out" / "cifar10" / "human_worse_label"
  train = _read_train(directory)
  np.testing.assert_array_equal(train["id"], np.arange(len(index)))
  np.testing.assert_array_equal(train["label"], permuted[index])
  np.testing.assert_array_equal(train["clean_label"], y_train)
  np.testing.assert_array_equal(train["image"], source["x_train"])
  manifest = json.loads((directory / "manifest.json").read_text())
  realized = float(np.mean(permuted[index] != y_train))
  print(f"CIFAR-10 subset, permuted human labels: realized_noise={realized:.4f}")
  assert manifest["realized_noise"] == pytest.approx(realized) and 0.8 < realized < 0.95
  assert "human labels worse_label" in result.stdout


def test_reproduce_small_trains_on_human_labels(tmp_path):
  clean = np.random.default_rng(4).integers(0, 10, FILE_SIZE)
  contents = _label_dict(clean)
  train_index = np.arange(5, 45)
  npz = tmp_path / "subset.npz"
  np.savez(npz, x_train=np.broadcast_to(np.arange(40, dtype=np.uint8)[:, None, None, None],
                                        (40, 32, 32, 3)),
           y_train=clean[train_index], train_index=train_index,
           x_val=np.zeros((8, 32, 32, 3), np.uint8), y_val=np.arange(8))
  label_file = write_npy(tmp_path / "CIFAR-10_human.npy", contents)
  script = [sys.executable, str(REPO_ROOT / "commands" / "reproduce_small.py"), f"--data={npz}",
            "--noise_type=human", f"--human_labels_file={label_file}"]
  out = tmp_path / "out"
  proc = subprocess.run(
      script + [f"--output_dir={out}", "--methods=mentornet_dd", "--loss_p=written",
                "--max_number_of_steps=2", "--eval_every=2", "--batch_size=8",
                "--resnet_widths=8,8,16,16"],
      env=subprocess_env(), capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  human = contents["worse_label"][train_index]
  train = _read_train(out / "data" / "train")
  position = train["image"][:, 0, 0, 0].astype(int)  # Each image holds its npz position.
  np.testing.assert_array_equal(train["label"], human[position])
  np.testing.assert_array_equal(train["clean_label"], clean[train_index][position])
  oracle = _read_train(out / "data" / "oracle")
  right = position[train["label"] == train["clean_label"]]
  np.testing.assert_array_equal(oracle["image"][:, 0, 0, 0], right)  # Human label correct.
  stats = json.loads((out / "data" / "stats.json").read_text())
  realized = float(np.mean(train["label"] != train["clean_label"]))
  assert stats["realized_noise"] == pytest.approx(realized)
  assert stats["noise"] == "human worse_label"
  results = json.loads((out / "results.json").read_text())
  # The MentorNet DD setting made for the synthetic level nearest the measured rate.
  expected = {0.2: 0.8, 0.4: 0.6, 0.8: 0.5}[min((0.2, 0.4, 0.8), key=lambda p: abs(p - realized))]
  assert results["mentornet_dd"]["settings"]["loss_p_percentile"] == expected
  assert f"human labels worse_label ({realized:.1%} wrong)" in (out / "results.md").read_text()
  # Refused, nothing written: no train_index; symmetric noise asked of the human-noise data.
  with np.load(npz) as arrays:
    np.savez(tmp_path / "plain.npz", **{k: arrays[k] for k in arrays.files if k != "train_index"})
  for args, message in (([f"--data={tmp_path / 'plain.npz'}", f"--output_dir={tmp_path / 'o2'}"],
                         "has no train_index"),
                        ([f"--output_dir={out}", "--noise_type=symmetric",
                          "--human_labels_file=", "--methods=oracle"],
                         "holds data with human worse_label noise, not symmetric 0.4")):
    refused = subprocess.run(script + args, env=subprocess_env(), capture_output=True, text=True,
                             timeout=300)
    last = refused.stderr.strip().splitlines()[-1]  # After TensorFlow's import logging.
    assert refused.returncode == 2 and last.startswith("error: ") and message in last, last
  assert not (tmp_path / "o2").exists()
