"""The evaluation job: polls a training directory and evaluates every new checkpoint once.

For each checkpoint it computes accuracy and mean cross-entropy on the whole split, writes the
`eval/accuracy` and `total_loss` TensorBoard scalars to `eval_dir` and appends
`global_step,accuracy,loss` to the CSV file. Steps already in the CSV are not evaluated again,
so a restarted eval job picks up where it stopped. Each checkpoint is evaluated in the precision
its run trained in (train_config.json's `mixed_precision`; float32 when it records none), so the
eval job reports what the run's own evaluations report.
"""
import csv
import math
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from mentornet.config import train_config
from mentornet.data import pipeline as data_lib
from mentornet.errors import UsageError
from mentornet.models import studentnets
from mentornet.training import precision
from mentornet.training.checkpoints import checkpoint_step

CSV_HEADER = ("global_step", "accuracy", "loss")


def make_example_losses(student, batch_norm_training=False):
  """tf.function (images [B, 32, 32, 3], labels int32 [B]) -> (cross-entropy float32 [B],
  correct bool [B]) of `student` in inference mode. Make it once per student: it traces once
  or twice.

  batch_norm_training: normalize with the statistics of each batch, as the original's StudentNet
  dump did (its ResNet was built in training mode); applies to a student with batch norm only
  (cifarnet has none, and its dropout stays off).
  """
  training = batch_norm_training and any(
      isinstance(layer, keras.layers.BatchNormalization) for layer in student.layers)

  # Batch sizes vary (the last batch of each split): one shape-general trace, not one per size.
  @tf.function(reduce_retracing=True)
  def example_losses(images, labels):
    logits = tf.cast(student(images, training=training), tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return losses, tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)

  return example_losses


def per_example_pass(student, dataset, example_losses=None):
  """One ordered pass over `dataset` ((features, label) batches, no augmentation).

  Returns numpy columns [n]: `id` int64, `label` int32 (the label the loss is taken with),
  `clean_label` int32 (-1 when unknown), `loss` float32 and `correct` bool.
  """
  example_losses = example_losses or make_example_losses(student)
  parts = {"id": [], "label": [], "clean_label": [], "loss": [], "correct": []}
  for features, labels in dataset:
    labels = tf.cast(labels, tf.int32)
    losses, correct = example_losses(features["image"], labels)
    for name, value in (("id", features["id"]), ("label", labels),
                        ("clean_label", features["clean_label"]), ("loss", losses),
                        ("correct", correct)):
      parts[name].append(value.numpy())
  dtypes = {"id": np.int64, "label": np.int32, "clean_label": np.int32, "loss": np.float32,
            "correct": bool}
  return {name: np.concatenate(values).astype(dtypes[name]) if values
          else np.zeros([0], dtypes[name]) for name, values in parts.items()}


def evaluate_student(student, dataset, example_losses=None):
  """Returns (accuracy, mean cross-entropy) of `student` over one pass of `dataset`.

  Pass `example_losses=make_example_losses(student)` when evaluating repeatedly.
  """
  columns = per_example_pass(student, dataset, example_losses)
  if not len(columns["loss"]):
    return float("nan"), float("nan")
  return float(columns["correct"].mean()), float(columns["loss"].astype(np.float64).mean())


def evaluated_steps(csv_path):
  """Steps already recorded in the eval CSV (empty when the file does not exist)."""
  if not csv_path or not os.path.exists(csv_path):
    return set()
  steps = set()
  with open(csv_path, newline="", encoding="utf-8") as f:
    for row in csv.reader(f):
      if row and row[0].strip().isdigit():
        steps.add(int(row[0]))
  return steps


def append_csv_row(csv_path, step, accuracy, loss):
  new_file = not os.path.exists(csv_path) or os.path.getsize(csv_path) == 0
  os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
  with open(csv_path, "a", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    if new_file:
      writer.writerow(CSV_HEADER)
    writer.writerow([step, f"{accuracy:.6f}", f"{loss:.6f}"])


class CheckpointGone(Exception):
  """A checkpoint was deleted (or is unreadable) between being listed and being restored."""


class CheckpointEvaluator:
  """Builds the StudentNet once (per precision) and evaluates checkpoints of it on one split.

  mixed_precision: the resolved policy to compute in ("none": float32), the run's
  (`train_config.run_policy`); `run_eval_job` switches it to each checkpoint directory's record.
  """

  def __init__(self, studentnet, dataset_name, data_dir, split_name, batch_size,
               student_config=studentnets.StudentNetConfig(sync_batch_norm=False),
               mixed_precision=train_config.UNRECORDED_POLICY):
    self.split = data_lib.describe_split(data_dir, dataset_name, split_name)
    corrupt = data_lib.find_corrupt_file(self.split.files)
    if corrupt is not None:
      raise UsageError(f"corrupt TFRecord file {corrupt[0]}: {corrupt[1]}")
    self.dataset = data_lib.make_dataset(self.split, dataset_name, batch_size, training=False)
    self._studentnet, self._student_config = studentnet, student_config
    self.mixed_precision = None
    self.use_policy(mixed_precision)

  def use_policy(self, mixed_precision):
    """(Re)builds the StudentNet under the resolved policy `mixed_precision`, if not already;
    Keras's global policy is left as it was."""
    if mixed_precision == self.mixed_precision:
      return
    with precision.keras_policy(mixed_precision):
      self.student = studentnets.build_studentnet(self._studentnet, self.split.num_classes,
                                                  self._student_config)
    self.mixed_precision = mixed_precision
    self.checkpoint = tf.train.Checkpoint(student=self.student)
    self.example_losses = make_example_losses(self.student)

  def evaluate(self, checkpoint_path):
    """Restores `checkpoint_path` and returns (step, accuracy, loss).

    Raises `CheckpointGone` when its files disappeared (the trainer's CheckpointManager keeps
    only the newest) or cannot be read, and `UsageError` when it does not fit the StudentNet
    built from the flags (a wrong --studentnet, --num_residual_units or --resnet_widths).
    """
    try:
      self.checkpoint.restore(checkpoint_path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
      if (isinstance(e, tf.errors.OpError) or
          not tf.io.gfile.exists(checkpoint_path + ".index")):
        raise CheckpointGone(first_line) from e
      raise UsageError(f"checkpoint {checkpoint_path} does not fit the StudentNet of --studentnet,"
                       f" --num_residual_units and --resnet_widths: {first_line}") from e
    accuracy, loss = evaluate_student(self.student, self.dataset, self.example_losses)
    return checkpoint_step(checkpoint_path), accuracy, loss


def run_eval_job(evaluator, checkpoint_dir, eval_dir, output_csv_file=None,
                 eval_interval_secs=600, eval_timeout_secs=None, run_once=False):
  """Evaluates each new checkpoint of `checkpoint_dir` exactly once, in the precision the
  directory's train_config.json records (read again for each checkpoint: the job may start
  before the run writes it).

  Args:
    run_once: evaluate the latest checkpoint (if not yet evaluated) and return.
    eval_timeout_secs: stop after this long without a new checkpoint; None waits forever.
  Returns:
    list of (step, accuracy, loss) evaluated by this call.
  """
  writer = None  # eval_dir is created with the first result, after the checks.
  done = evaluated_steps(output_csv_file)
  results = []
  if run_once:
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    paths = [latest] if latest else []
    if not paths:
      print(f"No checkpoint in {checkpoint_dir}", flush=True)
  else:
    paths = tf.train.checkpoints_iterator(checkpoint_dir, min_interval_secs=eval_interval_secs,
                                          timeout=eval_timeout_secs)
  for path in paths:
    step = checkpoint_step(path)
    if step in done:
      continue
    evaluator.use_policy(train_config.run_policy(checkpoint_dir))
    try:
      step, accuracy, loss = evaluator.evaluate(path)
    except CheckpointGone as e:
      logging.warning("skipping checkpoint %s: %s", path, e)
      continue
    done.add(step)
    if not math.isfinite(loss):
      # NaN weights still give an "accuracy" (argmax of NaN logits): not a result.
      logging.warning("checkpoint %s has a non-finite loss; not recorded", path)
      print(f"{time.strftime('%H:%M:%S')} step {step}: non-finite loss ({loss}); not recorded "
            "as a result", flush=True)
      continue
    results.append((step, accuracy, loss))
    if writer is None:
      os.makedirs(eval_dir, exist_ok=True)
      writer = tf.summary.create_file_writer(eval_dir)
    with writer.as_default(step=step):
      tf.summary.scalar("eval/accuracy", accuracy)
      tf.summary.scalar("total_loss", loss)
    writer.flush()
    if output_csv_file:
      append_csv_row(output_csv_file, step, accuracy, loss)
    print(f"{time.strftime('%H:%M:%S')} step {step}: accuracy {accuracy:.4f} loss {loss:.4f} "
          f"({evaluator.split.num_examples} examples)", flush=True)
  if writer is not None:
    writer.close()
  return results
