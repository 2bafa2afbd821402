"""The checkpoint-polling evaluation job: once per checkpoint, survives deleted checkpoints."""
import csv
import shutil
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from mentornet.analysis import evaluation
from mentornet.data import pipeline as data
from mentornet.errors import UsageError
from mentornet.models import studentnets
import numpy_reference

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


def test_wrong_studentnet_stops_at_once_before_eval_dir(tiny_cifar, tmp_path):
  _write_checkpoints(tmp_path / "train", [10])
  wider = studentnets.StudentNetConfig(1, (8, 8, 16, 32), sync_batch_norm=False)
  evaluator = evaluation.CheckpointEvaluator("resnet101", "cifar10", str(tiny_cifar / "val"),
                                             "test", 16, wider)
  # No timeout: before, a mismatch was "skipped" and the job waited forever.
  with pytest.raises(UsageError, match="ckpt-10 does not fit the StudentNet"):
    evaluation.run_eval_job(evaluator, str(tmp_path / "train"), str(tmp_path / "eval"),
                            str(tmp_path / "eval.csv"), eval_interval_secs=0)
  assert not (tmp_path / "eval").exists() and not (tmp_path / "eval.csv").exists()


def test_corrupt_data_file_is_refused_before_any_checkpoint(tiny_cifar, tmp_path):
  data_dir = tmp_path / "val"
  shutil.copytree(tiny_cifar / "val", data_dir)
  victim = sorted(data_dir.glob("cifar10_test-*"))[-1]
  blob = bytearray(victim.read_bytes())
  blob[len(blob) // 2:len(blob) // 2 + 64] = b"\xff" * 64
  victim.write_bytes(bytes(blob))
  with pytest.raises(UsageError, match=f"corrupt TFRecord file {victim}"):
    evaluation.CheckpointEvaluator("resnet101", "cifar10", str(data_dir), "test", 16, TINY)


def test_nonfinite_checkpoint_is_not_recorded_as_a_result(tiny_cifar, tmp_path, capsys):
  student = studentnets.build_studentnet("resnet101", 10, TINY)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(student=student),
                                       str(tmp_path / "train"), 5, checkpoint_name="ckpt")
  evaluator = evaluation.CheckpointEvaluator("resnet101", "cifar10", str(tiny_cifar / "val"),
                                             "test", 16, TINY)
  csv_path = tmp_path / "eval.csv"
  manager.save(checkpoint_number=5)
  evaluation.run_eval_job(evaluator, str(tmp_path / "train"), str(tmp_path / "eval"),
                          str(csv_path), run_once=True)
  for variable in student.weights:
    variable.assign(tf.fill(variable.shape, np.nan))
  manager.save(checkpoint_number=7)
  results = evaluation.run_eval_job(evaluator, str(tmp_path / "train"), str(tmp_path / "eval"),
                                    str(csv_path), run_once=True)
  assert results == []
  assert "step 7: non-finite loss" in capsys.readouterr().out
  with open(csv_path, newline="") as f:
    assert [row[0] for row in csv.reader(f)] == ["global_step", "5"]


def test_polling_a_run_that_keeps_two_checkpoints(tiny_cifar, tmp_path):
  """A writer saves a checkpoint every 0.2 s keeping 2 while the job polls without pause: it
  never crashes, and whatever it manages to evaluate comes in strictly increasing steps."""
  train_dir = tmp_path / "train"
  student = studentnets.build_studentnet("resnet101", 10, TINY)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(student=student), str(train_dir),
                                       max_to_keep=2, checkpoint_name="ckpt")
  manager.save(checkpoint_number=1)
  written = [1]

  def write():
    for step in range(2, 16):
      time.sleep(0.2)
      manager.save(checkpoint_number=step)
      written.append(step)

  writer = threading.Thread(target=write)
  writer.start()
  evaluator = evaluation.CheckpointEvaluator("resnet101", "cifar10", str(tiny_cifar / "val"),
                                             "test", 16, TINY)
  try:
    results = evaluation.run_eval_job(evaluator, str(train_dir), str(tmp_path / "eval"),
                                      str(tmp_path / "eval.csv"), eval_interval_secs=0,
                                      eval_timeout_secs=3)
  finally:
    writer.join()
  steps = [step for step, _, _ in results]
  assert steps and steps == sorted(set(steps)) and set(steps) <= set(written)
  with open(tmp_path / "eval.csv", newline="") as f:
    assert [int(row[0]) for row in list(csv.reader(f))[1:]] == steps
