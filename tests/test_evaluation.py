"""The checkpoint-polling evaluation job: once per checkpoint, survives deleted checkpoints."""
import csv

import numpy as np
import pytest
import tensorflow as tf

import numpy_reference
from mentornet import data
from mentornet import evaluation
from mentornet import studentnets

TINY = studentnets.StudentNetConfig(1, (8, 8, 16, 16), sync_batch_norm=False)


def _write_checkpoints(train_dir, steps):
  student = studentnets.build_studentnet("resnet101", 10, TINY)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(student=student), str(train_dir),
                                       max_to_keep=5, checkpoint_name="ckpt")
  return [manager.save(checkpoint_number=step) for step in steps]


def test_each_checkpoint_once_and_deleted_ones_skipped(tiny_cifar, tmp_path):
  train_dir, eval_dir = tmp_path / "train", tmp_path / "eval"
  csv_path = tmp_path / "eval.csv"
  evaluator = evaluation.CheckpointEvaluator("resnet101", "cifar10", str(tiny_cifar / "val"),
                                             "test", 16, TINY)
  paths = _write_checkpoints(train_dir, [10])
  first = evaluation.run_eval_job(evaluator, str(train_dir), str(eval_dir), str(csv_path),
                                  eval_interval_secs=0, eval_timeout_secs=1)
  assert [step for step, _, _ in first] == [10]
  # The checkpoint's accuracy and mean cross-entropy over all 40 images, recomputed here.
  student = studentnets.build_studentnet("resnet101", 10, TINY)
  tf.train.Checkpoint(student=student).restore(paths[0]).expect_partial()
  split = data.describe_split(str(tiny_cifar / "val"), "cifar10", "test")
  logits, labels = [], []
  for features, label in data.make_dataset(split, "cifar10", 7, training=False):
    logits.append(student(features["image"], training=False).numpy().astype(np.float64))
    labels.append(label.numpy())
  logits, labels = np.concatenate(logits), np.concatenate(labels)
  losses, _ = numpy_reference.softmax_cross_entropy(logits, labels)
  assert len(labels) == 40
  assert first[0][1] == pytest.approx(np.mean(logits.argmax(axis=1) == labels), abs=1e-9)
  assert first[0][2] == pytest.approx(losses.mean(), rel=1e-5)

  # A newer checkpoint whose files the trainer's CheckpointManager deleted while we polled.
  paths = _write_checkpoints(train_dir, [20])
  for data_file in tf.io.gfile.glob(paths[0] + ".*"):
    tf.io.gfile.remove(data_file)
  second = evaluation.run_eval_job(evaluator, str(train_dir), str(eval_dir), str(csv_path),
                                   eval_interval_secs=0, eval_timeout_secs=1)
  assert second == []

  # Restarting the job does not evaluate step 10 again.
  _write_checkpoints(train_dir, [30])
  third = evaluation.run_eval_job(evaluator, str(train_dir), str(eval_dir), str(csv_path),
                                  run_once=True)
  assert [step for step, _, _ in third] == [30]
  with open(csv_path, newline="") as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["global_step", "accuracy", "loss"]
  assert [int(r[0]) for r in rows[1:]] == [10, 30]
