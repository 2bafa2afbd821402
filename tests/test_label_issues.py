"""`mentornet-label-issues`: a run on a folder the test writes (PNG and JPEG, two sizes, one
grayscale image) and every bad input (one line, exit 2, before training)."""
import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
from PIL import Image
import pytest

from conftest import subprocess_env
from mentornet.errors import UsageError
from mentornet.keras_api import image_folder

CLASSES = ("cat", "dog", "frog")


def write_folder(root, per_class=10, classes=CLASSES):
  """root/<class>/: PNG and JPEG images of 24 and 40 pixels, the first of each class gray."""
  rng = np.random.default_rng(0)
  for c, name in enumerate(classes):
    os.makedirs(root / name, exist_ok=True)
    for i in range(per_class):
      size = 24 if i % 2 else 40
      image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
      image[..., c % 3] += 150
      if i == 0:
        Image.fromarray(image[..., 0]).save(root / name / f"gray{i}.png")
      else:
        Image.fromarray(image).save(root / name / f"im{i}.{'jpg' if i % 3 == 0 else 'png'}")
  return root


def _run_command(*flags):
  return subprocess.run([sys.executable, "-m", "mentornet.cli.label_issues", *flags],
                        capture_output=True, text=True, env=subprocess_env(), check=False)


def test_command_on_a_folder_writes_ranked_issues_model_plot_and_summary(tmp_path):
  train = write_folder(tmp_path / "train")
  out = tmp_path / "out"
  result = _run_command(f"--train_dir={train}", f"--output_dir={out}", "--epochs=2",
                        "--batch_size=8", f"--validation_dir={train}", "--image_size=24")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "labels flagged" in result.stdout
  with open(out / "label_issues.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == ["path", "given_label", "suggested_label", "trust", "rank",
                           "is_issue"]
  assert len(rows) == 30 and [int(r["rank"]) for r in rows] == list(range(1, 31))
  assert {r["path"] for r in rows} == {str(p) for p in train.glob("*/*")}
  assert all(r["given_label"] == os.path.basename(os.path.dirname(r["path"])) for r in rows)
  flagged = [int(r["is_issue"]) for r in rows]
  assert flagged == sorted(flagged, reverse=True)  # the flagged are the most suspect
  summary = json.loads((out / "summary.json").read_text())
  assert summary["images"] == 30 and summary["classes"] == list(CLASSES)
  assert summary["flagged"] == sum(flagged)
  assert summary["flagged"] == round(summary["estimated_noise_rate"] * 30)
  assert summary["ranking"] == "early_aum"  # the training dynamics saw every image
  assert summary["settings"]["precision"] == "float32" and summary["settings"]["seed"] == 0
  assert summary["settings"]["curriculum_settings"]["mentornet"] == "mentornet_pd"
  assert 0 <= summary["validation_accuracy"] <= 1 and summary["seconds"] > 0
  assert (out / "label_issues.png").stat().st_size > 1000
  # The model takes uint8 RGB images as files decode, its preprocessing inside.
  model = keras.saving.load_model(out / "model.keras")
  images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((24, 24)))
                     for p in sorted(train.glob("cat/*"))])
  assert images.dtype == np.uint8
  assert model.predict(images, verbose=0).shape == (10, 3)
  # A second run into the same folder is refused.
  again = _run_command(f"--train_dir={train}", f"--output_dir={out}")
  assert again.returncode == 2
  assert again.stderr.strip().splitlines()[-1].startswith(f"error: --output_dir={out} holds "
                                                          "another run")


def test_automatic_epochs_keep_the_reduced_regimes_step_budget():
  assert image_folder.auto_epochs(16) == 100  # 2,048 images at batch 128
  assert image_folder.auto_epochs(18) == 89  # the acceptance folder's 2,220
  assert image_folder.auto_epochs(5000) == 1


def _config(tmp_path, **kwargs):
  return image_folder.FolderConfig(**{"output_dir": str(tmp_path / "out"), "epochs": 1,
                                      "batch_size": 8, **kwargs})


def test_bad_folders_and_images_are_refused_before_training(tmp_path):
  with pytest.raises(UsageError, match=r"--train_dir=\S*nowhere does not exist"):
    image_folder.validate(_config(tmp_path, train_dir=str(tmp_path / "nowhere")))
  (tmp_path / "empty").mkdir()
  with pytest.raises(UsageError, match="holds no class folders"):
    image_folder.validate(_config(tmp_path, train_dir=str(tmp_path / "empty")))
  one = write_folder(tmp_path / "one", per_class=2, classes=("cat",))
  with pytest.raises(UsageError, match=r"holds 1 class folder \(cat\); it needs at least 2"):
    image_folder.validate(_config(tmp_path, train_dir=str(one)))
  no_images = write_folder(tmp_path / "noimg", per_class=2)
  for path in (no_images / "dog").iterdir():
    path.unlink()
  with pytest.raises(UsageError, match="class folder dog holds no images"):
    image_folder.validate(_config(tmp_path, train_dir=str(no_images)))
  broken = write_folder(tmp_path / "broken", per_class=2)
  (broken / "frog" / "oops.jpg").write_bytes(b"not an image at all")
  with pytest.raises(UsageError, match=r"frog/oops.jpg is not a readable image"):
    image_folder.validate(_config(tmp_path, train_dir=str(broken)))
  good = write_folder(tmp_path / "good", per_class=2)
  out = tmp_path / "previous"
  out.mkdir()
  (out / "summary.json").write_text("{}")
  with pytest.raises(UsageError, match="holds another run .summary.json.; choose a new folder "
                     "or pass --overwrite"):
    image_folder.validate(_config(tmp_path, train_dir=str(good), output_dir=str(out)))
  image_folder.validate(_config(tmp_path, train_dir=str(good), output_dir=str(out),
                                overwrite=True))
  with pytest.raises(UsageError, match="unknown curriculum 'mentornet_zz'"):
    image_folder.validate(_config(tmp_path, train_dir=str(good), curriculum="mentornet_zz"))


def test_a_model_whose_output_is_not_batch_by_classes_is_refused(tmp_path):
  good = write_folder(tmp_path / "good", per_class=2)
  inputs = keras.Input((32, 32, 3))
  pooled = keras.layers.GlobalAveragePooling2D()(inputs)
  flat = keras.Model(inputs, keras.layers.Reshape(())(keras.layers.Dense(1)(pooled)))
  flat.save(tmp_path / "flat.keras")
  wrong = keras.Model(inputs, keras.layers.Dense(5)(pooled))
  wrong.save(tmp_path / "five.keras")
  with pytest.raises(UsageError, match=r"flat.keras outputs shape \[2\]; a classifier must "
                     r"output logits \[batch, classes\]"):
    image_folder.run(_config(tmp_path, train_dir=str(good), model=str(tmp_path / "flat.keras")))
  with pytest.raises(UsageError, match="five.keras outputs 5 classes; --train_dir has 3"):
    image_folder.run(_config(tmp_path, train_dir=str(good), model=str(tmp_path / "five.keras")))
  assert not (tmp_path / "out").exists()


def test_command_bad_input_is_one_line_and_exit_2(tmp_path):
  result = _run_command(f"--train_dir={tmp_path / 'missing'}", f"--output_dir={tmp_path}/o")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      f"error: --train_dir={tmp_path / 'missing'} does not exist")


def test_channel_statistics_are_the_pixels_mean_and_variance():
  import tensorflow as tf
  rng = np.random.default_rng(3)
  images = rng.integers(0, 256, (70, 6, 6, 3)).astype(np.uint8)
  images[..., 2] //= 4  # a darker, narrower channel
  dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(70))).batch(32)
  mean, variance = image_folder.channel_statistics(dataset)
  pixels = images.reshape(-1, 3) / 255.0
  np.testing.assert_allclose(mean, pixels.mean(0), atol=1e-5)
  np.testing.assert_allclose(variance, pixels.var(0), atol=1e-5)
