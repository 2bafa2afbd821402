"""`mentornet-quickstart`: balanced subset, MNIST augmentation without flips, a tiny end-to-end
run (results, learning curves, printed figures) and bad flags."""
import dataclasses
import json
import subprocess
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from conftest import subprocess_env
from mentornet.cli import quickstart as cli_quickstart
from mentornet.data import pipeline as data_lib
from mentornet.data import records
from mentornet.data.npz_splits import balanced_subset
from mentornet.errors import UsageError
from mentornet.experiments import quickstart


def test_balanced_subset_takes_equal_shares_of_each_class():
  labels = np.array([0] * 50 + [1] * 30 + [2] * 5)
  chosen = balanced_subset(labels, 12, seed=3)
  assert len(chosen) == 12 and len(set(chosen)) == 12 and np.all(np.diff(chosen) > 0)
  # Class 2 has 5 examples, so the 12 picks are 4 + 4 + 4.
  np.testing.assert_array_equal(np.bincount(labels[chosen], minlength=3), [4, 4, 4])
  np.testing.assert_array_equal(np.bincount(labels[balanced_subset(labels, 21, 3)]), [8, 8, 5])
  np.testing.assert_array_equal(balanced_subset(labels, 12, seed=3), chosen)  # deterministic
  assert not np.array_equal(balanced_subset(labels, 12, seed=4), chosen)


def _augmented_images(tmp_path, dataset_name, image):
  directory = tmp_path / dataset_name
  records.write_shards(str(directory), dataset_name, "train",
                       {"image": image[None], "label": np.array([1])}, num_shards=1)
  split = data_lib.describe_split(str(directory), dataset_name, "train")
  dataset = data_lib.make_dataset(split, dataset_name, 1, training=True, crop_padding=0)
  return [features["image"][0].numpy() for features, _ in dataset.take(16)]


def test_digits_are_never_mirrored_cifar_images_are(tmp_path):
  image = np.zeros([32, 32, 3], np.uint8)
  image[:, :8] = 255  # bright left edge: a flip moves it to the right
  standardized = tf.image.per_image_standardization(image.astype(np.float32)).numpy()
  mirrored = standardized[:, ::-1]
  # No padding, so the crop is the whole image and only a flip can change it.
  for augmented in _augmented_images(tmp_path, "mnist", image):
    np.testing.assert_allclose(augmented, standardized, atol=1e-6)
  cifar = _augmented_images(tmp_path, "cifar10", image)
  flipped = [np.allclose(a, mirrored, atol=1e-6) for a in cifar]
  assert 0 < sum(flipped) < len(cifar)


def test_quickstart_tiny_run_prints_and_writes_results(tmp_path, capsys):
  out = tmp_path / "qs"
  config = quickstart.QuickstartConfig(output_dir=str(out), num_train_examples=40, epochs=2,
                                       batch_size=16, eval_every=2)
  quickstart.run(config)
  stdout = capsys.readouterr().out
  results = json.loads((out / "results.json").read_text())
  assert results["max_steps"] == 5  # round(2 epochs x 40 / 16)
  assert results["data"]["num_train"] == 40 and results["data"]["num_test"] == 1000
  assert 0.2 <= results["data"]["realized_noise"] <= 0.6
  for method in ("mentornet_pd", "baseline"):
    run = results["runs"][method]
    assert [row["step"] for row in run["history"]] == [0, 2, 4, 5], method
    assert run["clean_test_accuracy"] == run["history"][-1]["test_accuracy"]
    assert 0.0 <= run["memorized"] <= 1.0 and 0.0 <= run["fit_clean"] <= 1.0
    assert run["precision"] == "float32" and run["seed"] == 0
    assert f"{method:13s} clean test accuracy {run['clean_test_accuracy']:.4f}" in stdout
  assert 0.0 <= results["runs"]["mentornet_pd"]["trust_precision"] <= 1.0
  assert "MentorNet trust report: precision" in stdout and "precision float32, seed 0" in stdout
  assert (out / "learning_curves.png").stat().st_size > 1000
  # The same settings again reuse both runs; other data settings in the same directory, or a
  # finished run of another precision, are refused.
  quickstart.run(config)
  assert capsys.readouterr().out.count("reusing") == 2
  with pytest.raises(UsageError, match="other settings"):
    quickstart.run(dataclasses.replace(config, num_train_examples=50))
  with pytest.raises(UsageError, match="trained in float32, not mixed_bfloat16"):
    quickstart.run(dataclasses.replace(config, mixed_precision="mixed_bfloat16"))


def test_quickstart_result_of_a_finished_run_without_result_json(tmp_path, capsys):
  """A run already at its last step whose result.json is missing is evaluated, not crashed on."""
  config = quickstart.QuickstartConfig(output_dir=str(tmp_path / "qs"), num_train_examples=20,
                                       epochs=1, batch_size=10, eval_every=1,
                                       compare_baseline=False)
  first = quickstart.run(config)["runs"]["mentornet_pd"]
  (tmp_path / "qs" / "runs" / "mentornet_pd" / "result.json").unlink()
  again = quickstart.run(config)["runs"]["mentornet_pd"]
  assert [row["step"] for row in again["history"]] == [2]
  assert again["clean_test_accuracy"] == first["clean_test_accuracy"]
  assert "Already trained" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--num_train_examples=5", "--num_train_examples=4001",
                                  "--epochs=0", "--noise_fraction=1.5"])
def test_quickstart_refuses_bad_flags(tmp_path, flag):
  flag_values = flags.FlagValues()
  cli_quickstart.define_flags(flag_values)
  flag_values(["mentornet-quickstart", f"--output_dir={tmp_path / 'qs'}", flag])
  with pytest.raises(UsageError, match=flag.split("=")[0]):
    quickstart.run(cli_quickstart.config_from_flags(flag_values))
  assert not (tmp_path / "qs").exists()


def test_quickstart_console_script_exits_2_on_a_bad_flag(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "mentornet.cli.quickstart",
                         f"--output_dir={tmp_path / 'qs'}", "--epochs=0"], env=subprocess_env(),
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and "--epochs" in proc.stderr
