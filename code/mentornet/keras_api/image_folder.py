"""Label issues of a folder of images: train through the noise, rank, write the results.

`run(FolderConfig(train_dir=DIR, output_dir=OUT))` (the `mentornet-label-issues` command)
reads DIR/<class>/<images> of any size and format Keras reads (bmp, gif, jpeg, png; grayscale
becomes RGB) resized to `image_size`, trains `image_classifier.build_image_classifier` through a
`CurriculumModel` (MentorNet PD by default) and writes:
- OUT/label_issues.csv: path,given_label,suggested_label,trust,rank,is_issue, by rank (1 =
  most suspect, by the training dynamics: `keras_api.label_issues`); is_issue flags the
  round(r x n) most suspect, r the noise rate estimated from the ranking's scores;
- OUT/label_issues.png: the most suspect images with given and suggested label;
- OUT/model.keras: the classifier of uint8 RGB [batch, image_size, image_size, 3] images with
  its preprocessing inside (built-in Keras layers only);
- OUT/summary.json: images, classes, flagged count, the ranking, estimated noise rate, settings,
  seconds (and validation accuracy with `validation_dir`).
Every check of the inputs (folders, images, output folder, model) runs before training and
raises `UsageError` (one line).

Defaults: the reduced regime of docs/regime_study.md, where a plain run memorizes the wrong
labels of ~2,000 CIFAR-size images: ResNet-8 (16,16,32,64), flips, 100 epochs of batch 128 but
at most `AUTO_MAX_STEPS` steps (fewer epochs above 2,048 images: the regime's budget, ~7 min
of 32x32 images on 2 CPU cores), learning rate 0.1 divided by 10 at 50%, 64% and 77% of
training, momentum 0.9, MentorNet PD at the original's loss percentile p = 0.7.
"""
import csv
import dataclasses
import json
import math
import os
import sys
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from mentornet.errors import UsageError
import mentornet.keras_api.curricula as curricula
from mentornet.keras_api.curriculum_model import CurriculumModel
from mentornet.keras_api.curriculum_model import check_logits
import mentornet.keras_api.label_issues as label_issues_lib
from mentornet.models import image_classifier
from mentornet.models import studentnets
from mentornet.training import precision

CSV_FILE = "label_issues.csv"
PNG_FILE = "label_issues.png"
MODEL_FILE = "model.keras"
SUMMARY_FILE = "summary.json"
OUTPUT_FILES = (CSV_FILE, PNG_FILE, MODEL_FILE, SUMMARY_FILE)
CSV_COLUMNS = ("path", "given_label", "suggested_label", "trust", "rank", "is_issue")
# The extensions keras.utils.image_dataset_from_directory reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# epochs=0 (auto): 100 epochs, or fewer so that training takes at most this many steps (the
# reduced regime's 100 epochs of 1,998 images at batch 128).
AUTO_MAX_EPOCHS = 100
AUTO_MAX_STEPS = 1600


@dataclasses.dataclass
class FolderConfig:
  """Settings of one label-issue run (the command's flags)."""
  train_dir: str = ""
  output_dir: str = ""
  validation_dir: Optional[str] = None
  image_size: int = 32
  curriculum: str = curricula.DEFAULT_CURRICULUM  # a name, data_parameters, none or a path
  loss_p_percentile: float = curricula.MentorNet.loss_p_percentile
  model: Optional[str] = None  # a .keras classifier of 0..255 pixels instead of the ResNet-8
  epochs: int = 0  # 0: `auto_epochs`
  batch_size: int = 128
  learning_rate: float = 0.1
  widths: tuple = image_classifier.DEFAULT_WIDTHS
  seed: int = 0
  num_shown: int = 36
  mixed_precision: str = "auto"
  overwrite: bool = False
  verbose: int = 1


def list_images(directory, flag="train_dir"):
  """(class names, {class: [image paths]}) of DIR/<class>/... (nested folders included).

  Raises `UsageError` for a missing folder, no class folders, fewer than two classes or a
  class folder without images.
  """
  where = f"--{flag}={directory}"
  if not directory or not os.path.exists(directory):
    raise UsageError(f"{where} does not exist")
  if not os.path.isdir(directory):
    raise UsageError(f"{where} is not a folder")
  classes = sorted(entry for entry in os.listdir(directory)
                   if os.path.isdir(os.path.join(directory, entry)))
  if not classes:
    raise UsageError(f"{where} holds no class folders (it needs one subfolder of images per "
                     "class)")
  if len(classes) < 2:
    raise UsageError(f"{where} holds 1 class folder ({classes[0]}); it needs at least 2")
  images = {}
  for name in classes:
    paths = []
    for root, dirs, files in os.walk(os.path.join(directory, name)):
      dirs.sort()
      paths += [os.path.join(root, f) for f in sorted(files)
                if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
      raise UsageError(f"{where}: class folder {name} holds no images "
                       f"({', '.join(IMAGE_EXTENSIONS)})")
    images[name] = paths
  return classes, images


def check_readable(paths):
  """Decodes every image; `UsageError` naming the first one that is not a readable image."""
  for path in paths:
    try:
      tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, OSError) as e:
      reason = (str(getattr(e, "message", e)).strip().splitlines() or ["unreadable"])[0]
      raise UsageError(f"{path} is not a readable image ({reason[:120]})") from None


def check_output_dir(output_dir, overwrite):
  """Refuses a missing --output_dir, a file, or a folder holding another run's results."""
  if not output_dir:
    raise UsageError("--output_dir is required")
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise UsageError(f"--output_dir={output_dir} is a file, not a folder")
  found = [f for f in OUTPUT_FILES if os.path.exists(os.path.join(output_dir, f))]
  if found and not overwrite:
    raise UsageError(f"--output_dir={output_dir} holds another run ({', '.join(found)}); "
                     "choose a new folder or pass --overwrite")


def validate(config):
  """Checks settings, folders, images and the output folder; returns the class names and
  image lists {"train": (classes, {class: paths}), "validation": ... or None}."""
  if config.image_size < 8:
    raise UsageError(f"--image_size={config.image_size} is below 8 pixels")
  if config.epochs < 0:
    raise UsageError(f"--epochs={config.epochs} is negative (0: automatic)")
  for name in ("batch_size", "num_shown"):
    if getattr(config, name) < 1:
      raise UsageError(f"--{name}={getattr(config, name)} must be at least 1")
  if not config.learning_rate > 0:
    raise UsageError(f"--learning_rate={config.learning_rate:g} must be positive")
  curriculum_spec(config).settings()
  check_output_dir(config.output_dir, config.overwrite)
  train = list_images(config.train_dir)
  validation = None
  if config.validation_dir:
    validation = list_images(config.validation_dir, "validation_dir")
    unknown = sorted(set(validation[0]) - set(train[0]))
    if unknown:
      raise UsageError(f"--validation_dir={config.validation_dir} has classes not in "
                       f"--train_dir: {', '.join(unknown)}")
  for found in (train, validation):
    if found:
      check_readable([p for paths in found[1].values() for p in paths])
  return train, validation


def curriculum_spec(config):
  """The curriculum of `config` (a MentorNet or MentorMix gets `loss_p_percentile`)."""
  spec = curricula.resolve_curriculum(config.curriculum)
  if isinstance(spec, (curricula.MentorNet, curricula.MentorMix)):
    spec = dataclasses.replace(spec, loss_p_percentile=config.loss_p_percentile)
  return spec


def _to_uint8(images, labels):
  return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8), labels


def load_folder(directory, image_size, batch_size, class_names=None):
  """(dataset of (uint8 [b, s, s, 3], int labels) batches in file order, file paths)."""
  ds = keras.utils.image_dataset_from_directory(
      directory, labels="inferred", label_mode="int", class_names=class_names,
      color_mode="rgb", batch_size=batch_size, image_size=(image_size, image_size),
      shuffle=False, verbose=False)
  return ds.map(_to_uint8), list(ds.file_paths)


def channel_statistics(dataset):
  """(mean [3], variance [3]) of the dataset's pixels scaled to [0, 1], by Keras's own
  `Normalization.adapt`."""
  normalization = keras.layers.Normalization(axis=-1)
  normalization.adapt(dataset.map(lambda images, _: tf.cast(images, tf.float32) / 255.0))
  mean = np.asarray(normalization.mean, np.float64).reshape(-1)
  variance = np.asarray(normalization.variance, np.float64).reshape(-1)
  return mean.tolist(), np.maximum(variance, 1e-6).tolist()


def load_user_model(path, image_size, num_classes):
  """A `.keras` classifier of 0..255 pixels, checked to output [batch, num_classes]."""
  if not os.path.exists(path):
    raise UsageError(f"--model={path} does not exist")
  try:
    model = keras.saving.load_model(path, compile=False)
  except Exception as e:  # any failure: not a Keras model
    raise UsageError(f"--model={path} is not a loadable Keras model: "
                     f"{(str(e).splitlines() or [type(e).__name__])[0][:150]}") from None
  try:
    outputs = model(np.zeros([2, image_size, image_size, 3], np.float32), training=False)
  except Exception as e:
    raise UsageError(f"--model={path} does not take images [batch, {image_size}, {image_size}, "
                     f"3]: {(str(e).splitlines() or [type(e).__name__])[0][:150]}") from None
  classes = check_logits(outputs, f"--model={path}")
  if classes != num_classes:
    raise UsageError(f"--model={path} outputs {classes} classes; --train_dir has {num_classes}")
  return model


class ProgressBar(keras.callbacks.Callback):
  """One progress bar over all training steps (loss and accuracy of the running epoch)."""

  def __init__(self, total_steps):
    super().__init__()
    interactive = sys.stdout.isatty()
    self.bar = keras.utils.Progbar(total_steps, interval=0.5 if interactive else 30.0,
                                   stateful_metrics=["loss", "accuracy", "epoch"], unit_name="step")
    self.epoch = 0
    self.step = 0

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch + 1

  def on_train_batch_end(self, batch, logs=None):
    self.step += 1
    logs = logs or {}
    self.bar.update(self.step, [("epoch", self.epoch)] + [
        (name, float(logs[name])) for name in ("loss", "accuracy") if name in logs])


def auto_epochs(steps_per_epoch):
  """AUTO_MAX_EPOCHS, or fewer (at least 1) so that training takes about AUTO_MAX_STEPS."""
  return max(1, min(AUTO_MAX_EPOCHS, round(AUTO_MAX_STEPS / steps_per_epoch)))


def learning_rate_schedule(learning_rate, total_steps):
  """lr x (1, 0.1, 0.01, 0.001) with drops at 50%, 64% and 77% of training (the original
  ResNet schedule's shape)."""
  boundaries = studentnets.scaled_resnet_boundaries(total_steps)
  return keras.optimizers.schedules.PiecewiseConstantDecay(
      list(boundaries), [learning_rate * 0.1**i for i in range(len(boundaries) + 1)])


def plot_most_suspect(path, images, given, suggested, title):
  """Grid of `images` uint8 [k, s, s, 3] titled 'given -> suggested'."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  count = max(1, len(images))
  cols = min(6, count)
  rows = math.ceil(count / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.3 * rows + 0.4), squeeze=False)
  for i, ax in enumerate(axes.flat):
    ax.axis("off")
    if i < len(images):
      ax.imshow(images[i], interpolation="nearest")
      ax.set_title(f"{i + 1}. given {given[i]}\nsuggested {suggested[i]}", fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _images_of(data, ids):
  """uint8 images of the examples `ids` of `data` (`inputs.NumberedData`), in that order."""
  wanted = {int(i): k for k, i in enumerate(ids)}
  found = [None] * len(ids)
  for features, _ in data.examples.batch(512):
    for i, image in zip(features["id"].numpy(), features["x"].numpy()):
      if int(i) in wanted:
        found[wanted[int(i)]] = image
  return np.stack(found) if found else np.zeros([0, 1, 1, 3], np.uint8)


def write_csv(path, paths, class_names, issues):
  order = np.argsort(issues["rank"], kind="stable")
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(CSV_COLUMNS)
    for i in order:
      writer.writerow([paths[issues["index"][i]], class_names[issues["given"][i]],
                       class_names[issues["suggested"][i]], f"{issues['trust'][i]:.6g}",
                       int(issues["rank"][i]), int(issues["is_issue"][i])])


def accuracy_on(model, directory, image_size, class_names):
  """Accuracy of `model` on the images of `directory` (labelled by `class_names`)."""
  names = sorted(entry for entry in os.listdir(directory)
                 if os.path.isdir(os.path.join(directory, entry)))
  ds, _ = load_folder(directory, image_size, 256, class_names=names)
  correct = count = 0
  for images, labels in ds:
    predicted = np.argmax(model.predict_on_batch(images), axis=1)
    truth = np.array([class_names.index(names[j]) for j in labels.numpy()])
    correct += int(np.sum(predicted == truth))
    count += len(truth)
  return correct / max(1, count)


def run(config):
  """Trains, ranks and writes the outputs of `config`; returns the summary dict."""
  start = time.time()
  (class_names, _), _ = validate(config)
  num_classes = len(class_names)
  policy = precision.keras_policy_name(precision.resolve_mixed_precision(config.mixed_precision))
  keras.mixed_precision.set_global_policy(policy)
  keras.utils.set_random_seed(config.seed)
  train_ds, paths = load_folder(config.train_dir, config.image_size, config.batch_size)
  if config.model:
    model = load_user_model(config.model, config.image_size, num_classes)
    build_kwargs = None
    model_description = config.model
  else:
    mean, variance = channel_statistics(train_ds)
    build_kwargs = dict(num_classes=num_classes, image_size=config.image_size,
                        widths=tuple(config.widths), mean=mean, variance=variance)
    model = image_classifier.build_image_classifier(**build_kwargs)
    model_description = (f"ResNet-8 widths {','.join(map(str, config.widths))}, flips, "
                         "Rescaling and Normalization inside")
  steps_per_epoch = math.ceil(len(paths) / config.batch_size)
  epochs = config.epochs or auto_epochs(steps_per_epoch)
  total_steps = epochs * steps_per_epoch
  spec = curriculum_spec(config)
  learner = CurriculumModel(model, curriculum=spec, seed=config.seed)
  learner.compile(optimizer=studentnets.TF1Momentum(
      learning_rate_schedule(config.learning_rate, total_steps), momentum=0.9))
  print(f"Training on {len(paths)} images of {num_classes} classes ({config.train_dir}), "
        f"{epochs} epochs of {steps_per_epoch} steps, curriculum "
        f"{spec.settings()['curriculum']}, {policy}", flush=True)
  callbacks = [ProgressBar(total_steps)] if config.verbose else []
  train_start = time.time()
  learner.fit(train_ds, epochs=epochs, batch_size=config.batch_size, verbose=0,
              callbacks=callbacks)
  train_seconds = time.time() - train_start
  issues = label_issues_lib.find_label_issues(learner, train_ds)
  noise_rate = issues["estimated_noise_rate"]
  flagged = int(issues["is_issue"].sum())

  os.makedirs(config.output_dir, exist_ok=True)
  write_csv(os.path.join(config.output_dir, CSV_FILE), paths, class_names, issues)
  shown = np.argsort(issues["rank"], kind="stable")[:config.num_shown]
  plot_most_suspect(
      os.path.join(config.output_dir, PNG_FILE), _images_of(learner.training_data, shown),
      [class_names[issues["given"][i]] for i in shown],
      [class_names[issues["suggested"][i]] for i in shown],
      f"{len(shown)} most suspect of {len(paths)} images ({flagged} flagged)")
  saved = (image_classifier.copy_to_plain_layers(model, **build_kwargs) if build_kwargs
           else model)
  saved.save(os.path.join(config.output_dir, MODEL_FILE))
  summary = {
      "images": len(paths), "classes": class_names, "num_classes": num_classes,
      "flagged": flagged, "ranking": issues["ranking"], "estimated_noise_rate": noise_rate,
      "train_accuracy_on_given_labels": float(np.mean(issues["given"] == issues["suggested"])),
      "settings": {**{k: v for k, v in dataclasses.asdict(config).items()
                      if k not in ("overwrite", "verbose")},
                   "epochs": epochs, "widths": list(config.widths), "precision": policy,
                   "model": model_description, "steps": total_steps,
                   "curriculum_settings": spec.settings()},
      "train_seconds": round(train_seconds, 1),
  }
  if config.validation_dir:
    summary["validation_accuracy"] = accuracy_on(saved, config.validation_dir,
                                                 config.image_size, class_names)
  summary["seconds"] = round(time.time() - start, 1)
  with open(os.path.join(config.output_dir, SUMMARY_FILE), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  line = (f"{flagged} of {len(paths)} labels flagged (estimated noise rate {noise_rate:.3f})"
          f" -> {os.path.join(config.output_dir, CSV_FILE)}")
  if "validation_accuracy" in summary:
    line += f"; validation accuracy {summary['validation_accuracy']:.4f}"
  print(f"{line}; {summary['seconds'] / 60:.1f} min", flush=True)
  return summary
