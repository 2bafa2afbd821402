"""Trains a MentorNet on a data set from `generator` and exports it as a SavedModel.

As the original train.py: mini-batches of 32 drawn from the shuffled training points (an
"epoch" is floor(num_train / batch) steps), Adam with learning rate 0.1 decayed x0.9 every 1000
steps (staircase), gradients clipped to global norm 5, 3e4 steps. Binary targets (the training
v* holds exactly the values 0 and 1) are fit with sigmoid cross-entropy on the logit, other
targets with the squared error of sigmoid(logit). After every epoch it reports the training
and test loss and saves a checkpoint (`tf.train.CheckpointManager`, `ckpt-<step>` in
train_dir; a rerun resumes from the latest one). At the end it writes the MentorNet SavedModel
(`mentornet_net.export_saved_model`) and `metrics.json` to the export directory (train_dir by
default), so that directory is a valid `--trained_mentornet_dir`.
"""
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from mentornet.errors import UsageError
from mentornet.learning import generator
from mentornet.learning import vstar as vstar_lib
from mentornet.models import mentornet_net

METRICS_FILE = "metrics.json"
CHECKPOINT_NAME = "ckpt"
DECAY_STEPS = 1000
DECAY_RATE = 0.9
MAX_GRADIENT_NORM = 5.0
MAX_STEPS_PER_EXECUTION = 100
EVAL_BATCH_SIZE = 4096


def is_binary_target(v_star):
  """The original reader's rule: the targets are exactly the two values 0 and 1."""
  return set(np.unique(v_star).tolist()) == {0.0, 1.0}


def sigmoid_squared_error(v_star, logits):
  """Mean over the batch of (v* - sigmoid(logit))^2; v*, logits [batch, 1]."""
  return tf.reduce_mean(tf.square(tf.cast(v_star, tf.float32) - tf.sigmoid(logits)), axis=-1)


def make_optimizer(learning_rate):
  """Adam, lr x0.9 every 1000 steps (staircase), gradients clipped to global norm 5."""
  schedule = keras.optimizers.schedules.ExponentialDecay(
      learning_rate, DECAY_STEPS, DECAY_RATE, staircase=True)
  return keras.optimizers.Adam(schedule, global_clipnorm=MAX_GRADIENT_NORM)


def _steps_per_execution(steps_per_epoch):
  """Largest divisor (<= 100) of the epoch length: a compiled loop never overshoots an epoch."""
  return max(d for d in range(1, min(steps_per_epoch, MAX_STEPS_PER_EXECUTION) + 1)
             if steps_per_epoch % d == 0)


def _training_dataset(train, batch_size, seed):
  features = train[:, :4].astype(np.float32)
  targets = train[:, 4:].astype(np.float32)
  return (tf.data.Dataset.from_tensor_slices((features, targets))
          .shuffle(train.shape[0], seed=seed, reshuffle_each_iteration=True)
          .repeat().batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def predict_v(model, features):
  """v = sigmoid(MentorNet logit) float64 [n] for features [n, 4], in large batches."""
  features = np.asarray(features, np.float32)
  outputs = [tf.sigmoid(model(features[start:start + EVAL_BATCH_SIZE], training=False)).numpy()
             for start in range(0, features.shape[0], EVAL_BATCH_SIZE)]
  if not outputs:
    return np.zeros([0])
  return np.concatenate(outputs).reshape(-1).astype(np.float64)


class _EpochReport(keras.callbacks.Callback):
  """Prints `epoch=.. global_step=.. lr=.. time=..` and the train/test loss; saves a checkpoint."""

  def __init__(self, manager, log):
    super().__init__()
    self.manager = manager
    self.log = log
    self.history = []
    self._epoch_start = time.time()

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch_start = time.time()

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    step = int(self.model.optimizer.iterations.numpy())
    lr = float(np.asarray(self.model.optimizer.learning_rate))
    seconds = time.time() - self._epoch_start
    record = {"epoch": epoch + 1, "global_step": step, "learning_rate": lr,
              "train_loss": float(logs.get("loss", float("nan"))),
              "test_loss": float(logs.get("val_loss", float("nan"))), "seconds": seconds}
    self.history.append(record)
    self.manager.save(checkpoint_number=step)
    self.log(f"epoch={record['epoch']:04d} global_step={step:05d} lr={lr:.4f} "
             f"time={seconds:.2f}s tr_loss={record['train_loss']:.6f} "
             f"ts_loss={record['test_loss']:.6f}")


def _vstar_checks(info, test, v):
  """Per-part agreement/MSE when the data set names a registered v* function, else None."""
  spec = vstar_lib.VSTAR_FUNCTIONS.get(info.get("vstar_fn"))
  if spec is None:
    return None
  return vstar_lib.agreement_and_mse(v, test[:, 4], spec.binary_mask(test[:, :4]))


def train_mentornet(train_dir, data_path, mini_batch_size=32, max_step_train=30000,
                    learning_rate=0.1, seed=0, export_dir=None, jit_compile=False,
                    log=print):
  """Trains, checkpoints, exports; returns the metrics dict (also written to metrics.json).

  Args:
    train_dir: checkpoints (and, by default, the SavedModel and metrics.json) go here.
    data_path: a data set directory (tr.p, ts.p) written by `generator`.
    mini_batch_size, max_step_train, learning_rate: as the original's flags.
    seed: initialization and data order.
    export_dir: where to write the SavedModel and metrics.json (default train_dir).
    jit_compile: compile the train step with XLA.
    log: callable taking one line of progress.
  """
  if not train_dir:
    raise UsageError("--train_dir is required")
  if mini_batch_size <= 0:
    raise UsageError(f"--mini_batch_size must be positive, got {mini_batch_size}")
  if max_step_train <= 0 or max_step_train != int(max_step_train):
    raise UsageError(f"--max_step_train must be a positive whole number, got {max_step_train:g}")
  if learning_rate <= 0:
    raise UsageError(f"--learning_rate must be positive, got {learning_rate:g}")
  max_steps = int(max_step_train)
  train, test, info = generator.read_dataset(data_path)
  if train.shape[0] < mini_batch_size:
    raise UsageError(f"--data_path={data_path} has {train.shape[0]} training points, fewer than "
                     f"--mini_batch_size={mini_batch_size}")
  export_dir = export_dir or train_dir
  binary = is_binary_target(train[:, 4])
  steps_per_epoch = train.shape[0] // mini_batch_size
  log(f"data_path={data_path} #train={train.shape[0]} #test={test.shape[0]} "
      f"is_binary_label={binary} mini_batch_size={mini_batch_size} "
      f"learning_rate={learning_rate:g} iterations_per_epoch={steps_per_epoch}")

  keras.utils.set_random_seed(seed)
  model = mentornet_net.build_mentornet(seed)
  optimizer = make_optimizer(learning_rate)
  optimizer.build(model.trainable_variables)
  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
  os.makedirs(train_dir, exist_ok=True)
  manager = tf.train.CheckpointManager(checkpoint, train_dir, max_to_keep=3,
                                       checkpoint_name=CHECKPOINT_NAME)
  if manager.latest_checkpoint:
    try:
      checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      raise UsageError(f"--train_dir={train_dir} holds a checkpoint that is not of this "
                       f"MentorNet ({str(e).splitlines()[0][:160]}); use a new --train_dir")
  done = int(optimizer.iterations.numpy())
  if done:
    log(f"resuming from {manager.latest_checkpoint} at step {done}")

  remaining = max(0, max_steps - done)
  chunks = [steps_per_epoch] * (remaining // steps_per_epoch)
  if remaining % steps_per_epoch:
    chunks.append(remaining % steps_per_epoch)
  loss = (keras.losses.BinaryCrossentropy(from_logits=True) if binary
          else sigmoid_squared_error)
  model.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile)
  report = _EpochReport(manager, log)
  validation = (test[:, :4].astype(np.float32), test[:, 4:].astype(np.float32))
  start = time.time()
  first_epoch = done // steps_per_epoch
  # Full epochs in one `fit`, a shorter last one (if any) in a second; each compiled to run as
  # many steps per call as divide its epoch (recompiling keeps the optimizer's state).
  for chunk_size in sorted(set(chunks), reverse=True):
    num_epochs = chunks.count(chunk_size)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile,
                  steps_per_execution=_steps_per_execution(chunk_size))
    dataset = _training_dataset(train, mini_batch_size,
                                seed + int(optimizer.iterations.numpy()))
    model.fit(dataset, initial_epoch=first_epoch, epochs=first_epoch + num_epochs,
              steps_per_epoch=chunk_size, validation_data=validation,
              validation_batch_size=EVAL_BATCH_SIZE, callbacks=[report], verbose=0,
              shuffle=False)
    first_epoch += num_epochs
  seconds = time.time() - start
  if not manager.latest_checkpoint or not manager.latest_checkpoint.endswith(
      f"-{int(optimizer.iterations.numpy())}"):
    manager.save(checkpoint_number=int(optimizer.iterations.numpy()))

  v_test = predict_v(model, test[:, :4])
  final_train_loss = report.history[-1]["train_loss"] if report.history else None
  final_test_loss = float(model.evaluate(*validation, batch_size=EVAL_BATCH_SIZE, verbose=0))
  overall = vstar_lib.agreement_and_mse(v_test, test[:, 4])
  metrics = {
      "data_path": data_path,
      "dataset_info": info,
      "is_binary_label": binary,
      "loss": "sigmoid_cross_entropy" if binary else "squared_error_of_sigmoid",
      "num_train": int(train.shape[0]),
      "num_test": int(test.shape[0]),
      "final_train_loss": final_train_loss,
      "final_test_loss": final_test_loss,
      # Binary targets: fraction of test points with (v >= 0.5) == v*; else the MSE of v.
      "test_agreement": overall["agreement"],
      "test_mse": overall["mse_all"],
      "vstar_checks": _vstar_checks(info, test, v_test),
      "steps": int(optimizer.iterations.numpy()),
      "resumed_from_step": done,
      "seconds": round(seconds, 2),  # Training time of this invocation.
      "seed": int(seed),
      "mini_batch_size": int(mini_batch_size),
      "learning_rate": float(learning_rate),
      "history": report.history,
  }
  mentornet_net.export_saved_model(model, export_dir)
  for directory in {train_dir, export_dir}:
    with open(os.path.join(directory, METRICS_FILE), "w", encoding="utf-8") as f:
      json.dump(metrics, f, indent=2, sort_keys=True)
      f.write("\n")
  kind = "agreement" if binary else "mse"
  value = metrics["test_agreement"] if binary else metrics["test_mse"]
  log(f"finished: {metrics['steps']} steps in {seconds:.1f}s, test loss "
      f"{final_test_loss:.6f}, test {kind} {value:.4f}; MentorNet SavedModel in {export_dir}")
  return metrics
