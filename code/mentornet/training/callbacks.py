"""Keras callbacks of the training loop: exact step budget, checkpoints, non-finite stop and
summaries."""
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from mentornet.config.defaults import MAX_CONSECUTIVE_SKIPPED_STEPS
from mentornet.errors import NonFiniteLossError
from mentornet.training import trainer as trainer_lib


class StopAtStep(keras.callbacks.Callback):
  """Ends `fit` once the optimizer has taken `max_steps` steps (exact step budget).

  Reads the step from the device once, at the start; after that it counts the batches `fit`
  reports (the last step of each execution), so no step waits on a device read.
  """

  def __init__(self, max_steps):
    super().__init__()
    self.max_steps = max_steps
    self._step = 0
    self._epoch_start = 0

  def on_train_begin(self, logs=None):
    self._step = int(self.model.optimizer.iterations.numpy())

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch_start = self._step

  def on_train_batch_end(self, batch, logs=None):
    self._step = self._epoch_start + batch + 1
    if self._step >= self.max_steps:
      self.model.stop_training = True


def exact_steps_per_execution(requested, steps_per_epoch, remaining_steps):
  """Largest k <= `requested` dividing both the epoch and the remaining steps.

  `fit` runs whole executions of k steps, so this k keeps the step budget exact.
  """
  k = max(1, min(int(requested), steps_per_epoch, remaining_steps))
  while steps_per_epoch % k or remaining_steps % k:
    k -= 1
  return k


class CheckpointEverySecs(keras.callbacks.Callback):
  """Saves through a `tf.train.CheckpointManager` every `interval_secs` and at the end.

  Nothing is saved if training raises, so a failing job leaves earlier checkpoints intact.
  Under multi-worker training every worker must save; non-chief workers write to a scratch
  directory that is deleted.
  """

  def __init__(self, manager, interval_secs):
    super().__init__()
    self.manager = manager
    self.interval_secs = interval_secs
    self._last_save = time.time()

  def _save(self):
    if int(self.model.nonfinite_step.numpy()):
      return  # Never write weights of or after a non-finite step.
    step = int(self.model.optimizer.iterations.numpy())
    if self.manager.latest_checkpoint and self.manager.latest_checkpoint.endswith(f"-{step}"):
      return
    path = self.manager.save(checkpoint_number=step)
    self._last_save = time.time()
    logging.info("saved checkpoint %s", path)

  def on_train_batch_end(self, batch, logs=None):
    if time.time() - self._last_save >= self.interval_secs:
      self._save()

  def on_train_end(self, logs=None):
    self._save()


def _log_value(logs, name):
  return int(np.asarray((logs or {}).get(name, 0)).reshape(-1)[0])


class StopOnNonFinite(keras.callbacks.Callback):
  """Raises `NonFiniteLossError` naming the step and the last good checkpoint as soon as the
  logs report a non-finite step (`StudentTrainer.nonfinite_step`) or `max_skipped_steps`
  consecutive steps skipped by the loss-scale optimizer (`StudentTrainer.skipped_steps`); both
  read from the logs the step returns: no extra device read. Put it before
  `CheckpointEverySecs`: raising ends `fit` before anything of that state is saved."""

  def __init__(self, manager, max_skipped_steps=MAX_CONSECUTIVE_SKIPPED_STEPS):
    super().__init__()
    self.manager = manager
    self.max_skipped_steps = int(max_skipped_steps)

  def on_train_batch_end(self, batch, logs=None):
    bad_step = _log_value(logs, "nonfinite_step")
    skipped = _log_value(logs, "skipped_steps")
    if not bad_step and skipped < self.max_skipped_steps:
      return
    last_good = self.manager.latest_checkpoint or "none (nothing was saved)"
    if bad_step:
      raise NonFiniteLossError(
          f"NaN or Inf at step {bad_step} (loss, gradients, batch-norm statistics or weights); "
          f"training stopped with nothing saved after step {bad_step - 1}. Last good "
          f"checkpoint: {last_good}. Rerunning resumes from it (lower --learning_rate first)")
    step = int(self.model.optimizer.iterations.numpy())  # The last step applied.
    raise NonFiniteLossError(
        f"NaN or Inf gradients at every loss scale: the mixed-precision optimizer skipped the "
        f"last {skipped} steps, none applied after step {step}; training stopped with nothing "
        f"saved. Last good checkpoint: {last_good}. Rerunning resumes from it (lower "
        "--learning_rate or use another --mixed_precision first)")


class ScalarSummaries(keras.callbacks.Callback):
  """Writes the step logs as TensorBoard scalars under the original's tags, every N secs."""

  def __init__(self, log_dir, interval_secs, enabled=True):
    super().__init__()
    self.writer = tf.summary.create_file_writer(log_dir) if enabled else None
    self.interval_secs = interval_secs
    self._last_write = 0.0

  def on_train_batch_end(self, batch, logs=None):
    if self.writer is None or time.time() - self._last_write < self.interval_secs:
      return
    self._last_write = time.time()
    step = int(self.model.optimizer.iterations.numpy())
    with self.writer.as_default(step=step):
      for name, value in (logs or {}).items():
        tags = trainer_lib.SUMMARY_TAGS.get(name, f"train/{name}")
        for tag in (tags,) if isinstance(tags, str) else tags:
          tf.summary.scalar(tag, float(np.asarray(value).reshape(-1)[0]))
    self.writer.flush()

  def on_train_end(self, logs=None):
    if self.writer is not None:
      self.writer.close()
