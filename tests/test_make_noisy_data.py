"""data_tools/make_noisy_data.py and mentornet.data.noisy_data_builder: layout, manifests and
refusals."""
import json
import os
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from mentornet.data import noisy_data_builder
from mentornet.data import records
from mentornet.errors import UsageError

NUM_TRAIN, NUM_TEST = 60, 20


def _run_script(repo_root, cwd, *args):
  env = dict(os.environ, PYTHONPATH=str(repo_root / "code"), TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, str(repo_root / "data_tools" / "make_noisy_data.py"),
                         *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def tiny_npz(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "tiny.npz"
  np.savez(path, x_train=rng.integers(0, 256, (NUM_TRAIN, 32, 32, 3), dtype=np.uint8),
           y_train=np.arange(NUM_TRAIN) % 10,
           x_test=rng.integers(0, 256, (NUM_TEST, 32, 32, 3), dtype=np.uint8),
           y_test=np.arange(NUM_TEST) % 10)
  return path


def _listing(root):
  return sorted(os.path.relpath(os.path.join(d, f), root)
                for d, _, files in os.walk(root) for f in files)


def test_script_writes_layout_and_manifests(repo_root, tmp_path, tiny_npz):
  result = _run_script(repo_root, tmp_path, "--dataset_name=cifar10", f"--source={tiny_npz}",
                       "--noise_type=symmetric", "--noise_fractions=0.2,0.8,0", "--seed=3",
                       "--output_dir=out", "--num_shards=2")
  assert result.returncode == 0, result.stderr[-2000:]
  out = tmp_path / "out" / "cifar10"
  expected = [f"{d}/{name}" for d in ("0.0", "0.2", "0.8")
              for name in ("cifar10_train-00000-of-00002", "cifar10_train-00001-of-00002",
                           "manifest.json")]
  expected += ["val/cifar10_test-00000-of-00002", "val/cifar10_test-00001-of-00002",
               "val/manifest.json"]
  assert _listing(out) == sorted(expected)

  source = np.load(tiny_npz)
  manifest = json.loads((out / "0.8" / "manifest.json").read_text())
  files = records.list_record_files(str(out / "0.8"), "cifar10", "train")
  parsed = records.read_all(files, "cifar10")
  np.testing.assert_array_equal(parsed["id"], np.arange(NUM_TRAIN))
  np.testing.assert_array_equal(parsed["clean_label"], source["y_train"])
  np.testing.assert_array_equal(parsed["image"], source["x_train"])
  realized = float(np.mean(parsed["label"] != parsed["clean_label"]))
  assert manifest["realized_noise"] == pytest.approx(realized) and realized > 0
  assert manifest["dataset_name"] == "cifar10" and manifest["source"] == str(tiny_npz)
  assert manifest["noise_type"] == "symmetric" and manifest["noise_fraction"] == 0.8
  assert manifest["seed"] == 3 and manifest["num_examples"] == NUM_TRAIN
  assert manifest["per_class_counts"] == np.bincount(parsed["label"], minlength=10).tolist()
  assert manifest["clean_per_class_counts"] == [NUM_TRAIN // 10] * 10
  assert manifest["files"] == [os.path.basename(f) for f in files]
  assert records.count_examples(files) == NUM_TRAIN

  clean_manifest = json.loads((out / "0.0" / "manifest.json").read_text())
  assert clean_manifest["realized_noise"] == 0.0
  val_manifest = json.loads((out / "val" / "manifest.json").read_text())
  assert val_manifest["num_examples"] == NUM_TEST and val_manifest["split"] == "test"
  val = records.read_all(records.list_record_files(str(out / "val"), "cifar10", "test"),
                         "cifar10")
  np.testing.assert_array_equal(val["image"], source["x_test"])
  np.testing.assert_array_equal(val["label"], source["y_test"])
  np.testing.assert_array_equal(val["label"], val["clean_label"])

  # Existing output is never replaced silently; nothing is touched by the refused run.
  before = {name: (out / name).stat().st_mtime_ns for name in _listing(out)}
  refused = _run_script(repo_root, tmp_path, f"--source={tiny_npz}", "--output_dir=out",
                        "--noise_fractions=0.8")
  assert refused.returncode == 2
  assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
  assert refused.stderr.startswith("error: ") and "--overwrite" in refused.stderr
  assert {name: (out / name).stat().st_mtime_ns for name in _listing(out)} == before


@pytest.mark.parametrize("args, message", [
    (["--dataset_name=cifar11"], "dataset_name"),
    (["--noise_fractions=0.2,1.5"], "outside [0, 1]"),
    (["--noise_fractions=0.2,-0.1"], "outside [0, 1]"),
    (["--noise_fractions=0.2,lots"], "not a number"),
    (["--noise_type=pairwise"], "noise_type"),
    (["--source=MISSING"], "does not exist"),
    (["--source=BAD_NPZ"], "x_test"),
    (["--source=embedded"], "mnist"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(repo_root, tmp_path, tiny_npz,
                                                            args, message):
  bad_npz = tmp_path / "bad.npz"
  np.savez(bad_npz, x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=np.zeros(2, int))
  args = [arg.replace("MISSING", str(tmp_path / "missing.npz")).replace("BAD_NPZ", str(bad_npz))
          for arg in args]
  if not any(arg.startswith("--source=") for arg in args):
    args.append(f"--source={tiny_npz}")
  result = _run_script(repo_root, tmp_path, *args, "--output_dir=out")
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
  assert not (tmp_path / "out").exists()


def test_overwrite_replaces_records(tmp_path, tiny_npz):
  output_dir = str(tmp_path / "out")
  noisy_data_builder.build_noisy_datasets("cifar10", str(tiny_npz), noise_fractions="0.4",
                                          output_dir=output_dir, num_shards=3, log=lambda _: None)
  # Same source again: a new fraction is fine (val/ is kept), an existing one needs overwrite.
  kept = noisy_data_builder.build_noisy_datasets("cifar10", str(tiny_npz), noise_fractions="0.2",
                                                 output_dir=output_dir, log=lambda _: None)
  assert set(map(os.path.basename, kept)) == {"0.2", "val"}
  with pytest.raises(UsageError, match="--overwrite"):
    noisy_data_builder.build_noisy_datasets("cifar10", str(tiny_npz), noise_fractions="0.4",
                                            output_dir=output_dir)
  noisy_data_builder.build_noisy_datasets("cifar10", str(tiny_npz), noise_fractions="0.4",
                                          output_dir=output_dir, num_shards=1, overwrite=True,
                                          log=lambda _: None)
  assert sorted(os.listdir(tmp_path / "out" / "cifar10" / "0.4")) == [
      "cifar10_train-00000-of-00001", "manifest.json"]


def test_noise_of_a_fraction_does_not_depend_on_the_other_fractions(tmp_path, tiny_npz):
  for name, fractions in (("a", "0.4"), ("b", "0.8,0.4")):
    noisy_data_builder.build_noisy_datasets("cifar10", str(tiny_npz), noise_fractions=fractions,
                                            output_dir=str(tmp_path / name), log=lambda _: None)
  labels = [records.read_all(records.list_record_files(
      str(tmp_path / name / "cifar10" / "0.4"), "cifar10", "train"), "cifar10")["label"]
            for name in ("a", "b")]
  np.testing.assert_array_equal(labels[0], labels[1])


def _write_cifar_batch(path, batch):
  """Pickles like the Python 2 CIFAR files: protocol 2, numpy.core module names."""
  data = pickle.dumps(batch, protocol=2).replace(b"numpy._core.", b"numpy.core.")
  path.write_bytes(data)


def test_cifar10_python_archive_and_folder_sources(tmp_path):
  rng = np.random.default_rng(1)
  folder = tmp_path / "cifar-10-batches-py"
  folder.mkdir()
  chw_rows = {}
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    chw_rows[name] = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    _write_cifar_batch(folder / name, {b"batch_label": b"x", b"data": chw_rows[name],
                                       b"labels": list(range(4))})
  archive = tmp_path / "cifar-10-python.tar.gz"
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(folder, arcname="cifar-10-batches-py")
  for source in (archive, folder, tmp_path):
    splits = noisy_data_builder.load_source(str(source), "cifar10")
    assert splits["train"]["image"].shape == (20, 32, 32, 3)
    first = chw_rows["data_batch_1"][0].reshape(3, 32, 32)  # CHW rows
    np.testing.assert_array_equal(splits["train"]["image"][0].transpose(2, 0, 1), first)
    np.testing.assert_array_equal(splits["test"]["label"], np.arange(4))
  with pytest.raises(UsageError, match="holds cifar10 .*not --dataset_name=cifar100"):
    noisy_data_builder.load_source(str(archive), "cifar100")
  os.remove(folder / "data_batch_5")
  with pytest.raises(UsageError, match="lacks data_batch_5"):
    noisy_data_builder.load_source(str(folder), "cifar10")


def test_cifar100_python_folder_source_and_unsafe_pickle(tmp_path):
  folder = tmp_path / "cifar-100-python"
  folder.mkdir()
  for name, count in (("train", 6), ("test", 3)):
    _write_cifar_batch(folder / name, {
        b"data": np.full((count, 3072), 7, np.uint8), b"fine_labels": list(range(count)),
        b"coarse_labels": [19] * count})
  splits = noisy_data_builder.load_source(str(folder), "cifar100")
  np.testing.assert_array_equal(splits["train"]["label"], np.arange(6))
  np.testing.assert_array_equal(splits["test"]["coarse_label"], [19] * 3)
  written = noisy_data_builder.build_noisy_datasets(
      "cifar100", str(folder), noise_fractions="0.0", output_dir=str(tmp_path / "out"),
      log=lambda _: None)
  assert set(map(os.path.basename, written)) == {"0.0", "val"}
  train = records.read_all(records.list_record_files(
      str(tmp_path / "out" / "cifar100" / "0.0"), "cifar100", "train"), "cifar100")
  np.testing.assert_array_equal(train["coarse_label"], [19] * 6)

  class RunsCode:
    def __reduce__(self):
      return (os.getcwd, ())

  (folder / "train").write_bytes(pickle.dumps({b"data": RunsCode()}))
  with pytest.raises(UsageError, match="not a readable CIFAR python batch"):
    noisy_data_builder.load_source(str(folder), "cifar100")


def test_tfds_failure_explains_the_manual_route(monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")

  def offline_load(*args, **kwargs):
    raise ConnectionError("Name or service not known")

  monkeypatch.setattr(tfds, "load", offline_load)
  with pytest.raises(UsageError) as error:
    noisy_data_builder.load_source("tfds", "cifar10")
  message = str(error.value)
  assert "cifar-10-python.tar.gz" in message and "--source=" in message and "\n" not in message


def test_cifar_subset_symmetric_04(cifar_subset_path, tmp_path):
  written = noisy_data_builder.build_noisy_datasets(
      "cifar10", str(cifar_subset_path), noise_fractions="0.4", seed=0,
      output_dir=str(tmp_path), num_shards=2, log=lambda _: None)
  manifest = written[str(tmp_path / "cifar10" / "0.4")]
  print(f"CIFAR-10 subset, symmetric 0.4: realized_noise={manifest['realized_noise']:.4f} "
        f"on {manifest['num_examples']} examples")
  assert abs(manifest["realized_noise"] - 0.36) <= 0.02
  source = np.load(cifar_subset_path)
  train = records.read_all(records.list_record_files(
      str(tmp_path / "cifar10" / "0.4"), "cifar10", "train"), "cifar10")
  order = np.argsort(train["id"])
  np.testing.assert_array_equal(train["id"][order], np.arange(len(source["y_train"])))
  np.testing.assert_array_equal(train["image"][order], source["x_train"])
  np.testing.assert_array_equal(train["clean_label"][order], source["y_train"])
  assert np.mean(train["label"] != train["clean_label"]) == manifest["realized_noise"]
  val = records.read_all(records.list_record_files(
      str(tmp_path / "cifar10" / "val"), "cifar10", "test"), "cifar10")
  np.testing.assert_array_equal(val["image"], source["x_val"])
  np.testing.assert_array_equal(val["label"], source["y_val"])


def test_embedded_source_writes_mnist_layout(tmp_path):
  written = noisy_data_builder.build_noisy_datasets(
      "mnist", "embedded", noise_fractions="0.2", output_dir=str(tmp_path), num_shards=2,
      log=lambda _: None)
  assert set(written) == {str(tmp_path / "mnist" / "0.2"), str(tmp_path / "mnist" / "val")}
  train_files = records.list_record_files(str(tmp_path / "mnist" / "0.2"), "mnist", "train")
  test_files = records.list_record_files(str(tmp_path / "mnist" / "val"), "mnist", "test")
  assert [os.path.basename(f) for f in train_files] == [
      "mnist_train-00000-of-00002", "mnist_train-00001-of-00002"]
  assert records.count_examples(train_files) == 4000
  assert records.count_examples(test_files) == 1000
  test = records.read_all(test_files, "mnist")
  assert test["image"].shape == (1000, 32, 32, 3)
  np.testing.assert_array_equal(test["image"][..., 0], test["image"][..., 2])
  assert test["image"][:, :2].max() == 0 and test["image"].max() > 200  # Zero-padded border.
