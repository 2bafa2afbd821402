"""Curricula: how per-example losses become per-example weights v inside the train step.

A curriculum is a small Keras layer that owns its state as non-trainable weights (so it is
checkpointed with the StudentNet) and implements `example_weights`. Everything is TF ops and
computed over the *global* batch, so results do not depend on the number of replicas.

- `NoCurriculum`: v = 1 (the baseline).
- `MentorNetCurriculum`: the original's frozen MentorNet, percentile moving average, burn-in
  and example dropout.
- `mentornet.curricula.data_parameters.DataParametersCurriculum` (Saxena et al., 2019).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from mentornet.config.defaults import NUM_EPOCH_BINS
from mentornet.config.defaults import ORIGINAL_LOSS_MOVING_AVERAGE_DECAY
from mentornet.config.defaults import ORIGINAL_LOSS_P_PERCENTILE
from mentornet.errors import UsageError


def parse_example_dropout_rates(spec):
  """Parses `[rate, n_epochs]+` (a string or list of strings) into float32 [100] rates.

  Raises `UsageError` for odd length, non-numbers, rates outside [0, 1], non-positive or
  non-integer epoch counts, or counts that do not sum to 100.
  """
  items = spec.split(",") if isinstance(spec, str) else list(spec)
  items = [str(item).strip() for item in items if str(item).strip()]
  shown = ",".join(items)
  if not items or len(items) % 2:
    raise UsageError(f"--example_dropout_rates={shown!r} must be pairs 'rate,n_epochs,...' "
                     f"(got {len(items)} numbers)")
  try:
    values = [float(item) for item in items]
  except ValueError:
    raise UsageError(f"--example_dropout_rates={shown!r} holds a value that is not a number")
  rates, counts = values[0::2], values[1::2]
  for rate in rates:
    if not 0.0 <= rate <= 1.0:
      raise UsageError(f"--example_dropout_rates={shown!r}: rate {rate:g} is outside [0, 1]")
  for count in counts:
    if count <= 0 or count != int(count):
      raise UsageError(f"--example_dropout_rates={shown!r}: epoch count {count:g} is not a "
                       "positive integer")
  if sum(counts) != NUM_EPOCH_BINS:
    raise UsageError(f"--example_dropout_rates={shown!r}: epoch counts sum to {sum(counts):g}, "
                     f"not {NUM_EPOCH_BINS}")
  return np.repeat(np.array(rates, np.float32), np.array(counts, np.int64))


def validate_mentornet_settings(loss_p_percentile, loss_moving_average_decay, burn_in_epoch,
                                example_dropout_rates):
  """Checks the settings every MentorNet weighting shares; returns the parsed dropout rates
  (float32 [100]). Raises `UsageError` naming the flag of a bad value."""
  if not 0.0 < loss_p_percentile <= 1.0:
    raise UsageError(f"--loss_p_percentile={loss_p_percentile:g} is outside (0, 1]")
  if not 0.0 <= loss_moving_average_decay <= 1.0:
    raise UsageError(f"--loss_moving_average_decay={loss_moving_average_decay:g} is outside "
                     "[0, 1]")
  if not 0 <= burn_in_epoch <= NUM_EPOCH_BINS:
    raise UsageError(f"--burn_in_epoch={burn_in_epoch} is outside [0, {NUM_EPOCH_BINS}]")
  return parse_example_dropout_rates(example_dropout_rates)


def nearest_rank_percentile(values, q):
  """The q-quantile (q in [0, 1]) of a 1-D tensor with 'nearest' interpolation.

  Equals tf.contrib.distributions.percentile(values, 100 * q) of the original: sort descending
  and take index round((n - 1) * (1 - q)), rounding half to even, computed in float64 from the
  float32 percent 100 * q as the original did.
  """
  n = tf.shape(values)[0]
  descending = tf.sort(values, direction="DESCENDING")
  percent = tf.cast(tf.cast(q, tf.float32) * 100.0, tf.float64)
  index = tf.round(tf.cast(n - 1, tf.float64) * (1.0 - percent / 100.0))
  return tf.gather(descending, tf.clip_by_value(tf.cast(index, tf.int32), 0, n - 1))


def training_epoch(step, max_steps):
  """Percent of training done, int32 in [0, 99]: floor(step / max_steps * 100).

  In float64, as the original's tf.divide of integers: at step 11310 of 39000 this is 28
  (0.29 * 100 = 28.999...), not the exact 29. Every caller (train step, trust report, StudentNet
  dump) uses this function; `step` and `max_steps` may be tensors or Python integers.
  """
  epoch = tf.floor(tf.cast(step, tf.float64) / tf.cast(max_steps, tf.float64) * NUM_EPOCH_BINS)
  return tf.clip_by_value(tf.cast(epoch, tf.int32), 0, NUM_EPOCH_BINS - 1)


def random_keep_mask(batch_size, keep_count, seed):
  """float32 [batch_size] with exactly `keep_count` ones at uniformly random positions.

  `seed` is an int32/int64 [2] stateless seed. Ranks of uniform scores keep every shape static,
  so the mask compiles with XLA even though `keep_count` changes with the epoch.
  """
  scores = tf.random.stateless_uniform([batch_size], seed=seed)
  ranks = tf.argsort(tf.argsort(scores))
  return tf.cast(ranks < keep_count, tf.float32)


def global_batch(values):
  """All-gathers a per-replica [local_batch, ...] tensor into [global_batch, ...]."""
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return values
  return ctx.all_gather(values, axis=0)


def global_sum(values):
  """Sums a per-replica tensor over the replicas (one all-reduce); identity on one replica."""
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return values
  return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


def local_part(values, local_size):
  """This replica's rows of a global-batch tensor (the order of `global_batch`)."""
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return values
  sizes = ctx.all_gather(tf.reshape(tf.cast(local_size, tf.int32), [1]), axis=0)
  replica = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
  start = tf.reduce_sum(sizes[:replica])
  return tf.slice(values, tf.reshape(start, [1]), tf.reshape(local_size, [1]))


@dataclasses.dataclass
class StepInfo:
  """What a curriculum may read about the current step (all tensors)."""
  step: tf.Tensor  # int64 scalar, global step before this update.
  max_steps: int
  seed: tf.Tensor  # int64 [2] stateless seed, distinct per step, the same on every replica.


class Curriculum(keras.layers.Layer):
  """Base class: v = 1 for every example, logits untouched, one forward pass."""

  # True: the trainer trains on the losses and weights of `second_pass` (MentorMix).
  needs_second_pass = False
  # With a second pass: the batch-norm statistics the trainer keeps are the first pass's
  # (True) or the second pass's (False); the other pass's updates are undone.
  keeps_first_pass_statistics = False

  def scale_logits(self, logits, labels, features):
    """Training-time logits transform (data parameters); identity by default."""
    del labels, features
    return logits

  def example_weights(self, losses, labels, features, step_info):
    """Returns (v float32 [local_batch], logs {name: scalar}). v is treated as a constant."""
    del labels, features, step_info
    return tf.ones_like(losses), {}

  def second_pass(self, forward, images, labels, losses, v, step_info):
    """With `needs_second_pass`: (losses [local_batch], differentiable; weights [local_batch];
    logs) of a second forward pass `forward(images') -> float32 logits` built from the first
    pass's `losses` and `v` (float32 [local_batch] constants). See `mentormix`."""
    raise NotImplementedError(f"{type(self).__name__} has no second pass")

  @property
  def curriculum_variables(self):
    """Variables the curriculum learns by gradient (updated by `apply_gradients`)."""
    return []

  def apply_gradients(self, gradients, labels, features):
    """Updates `curriculum_variables` from their gradients (global-batch sums)."""
    del gradients, labels, features


class NoCurriculum(Curriculum):
  """Every example weighs 1: the baseline."""


class MentorNetCurriculum(Curriculum):
  """The original's per-mini-batch MentorNet weighting.

  Args:
    mentornet: callable float32 [batch, 4] (loss, loss - moving average, label, epoch) ->
      v in [0, 1] of shape [batch, 1]; a SavedModel from `mentornet_net.load_mentornet`.
    loss_p_percentile: q in (0, 1] of the batch-loss percentile fed to the moving average.
    burn_in_epoch: v is forced to 1 while epoch < burn_in_epoch - 1.
    fixed_epoch_after_burn_in: feed min(epoch, burn_in_epoch) as the epoch (MentorNet DD).
    loss_moving_average_decay: decay d of moving_avg = d * moving_avg + (1 - d) * percentile.
    example_dropout_rates: float32 [100], the dropout rate at each epoch.
  """

  def __init__(self, mentornet, loss_p_percentile=ORIGINAL_LOSS_P_PERCENTILE, burn_in_epoch=0,
               fixed_epoch_after_burn_in=False,
               loss_moving_average_decay=ORIGINAL_LOSS_MOVING_AVERAGE_DECAY,
               example_dropout_rates=None, **kwargs):
    super().__init__(**kwargs)
    # Held in a closure, not as a tracked attribute: the frozen MentorNet is loaded from
    # --trained_mentornet_dir on every start and stays out of the StudentNet's checkpoints.
    self.mentornet = lambda features: mentornet(features)
    self.loss_p_percentile = float(loss_p_percentile)
    self.burn_in_epoch = int(burn_in_epoch)
    self.fixed_epoch_after_burn_in = bool(fixed_epoch_after_burn_in)
    self.loss_moving_average_decay = float(loss_moving_average_decay)
    if example_dropout_rates is None:
      example_dropout_rates = np.zeros([NUM_EPOCH_BINS], np.float32)
    self.example_dropout_schedule = tf.constant(example_dropout_rates, tf.float32)
    # Persistent across steps and checkpointed; the original's mentor_inputs/cumulative.
    self.loss_moving_average = self.add_weight(
        shape=(), initializer="zeros", trainable=False, name="loss_moving_average",
        aggregation="only_first_replica")

  def example_weights(self, losses, labels, features, step_info):
    del labels, features
    epoch = training_epoch(step_info.step, step_info.max_steps)
    if self.fixed_epoch_after_burn_in:
      epoch = tf.minimum(epoch, self.burn_in_epoch)
    all_losses = global_batch(tf.stop_gradient(losses))  # float32 [global_batch]
    percentile_loss = nearest_rank_percentile(all_losses, self.loss_p_percentile)
    moving_average = (self.loss_moving_average_decay * self.loss_moving_average +
                      (1.0 - self.loss_moving_average_decay) * percentile_loss)
    self.loss_moving_average.assign(moving_average)

    local = tf.stop_gradient(losses)
    features = tf.stack([
        local, local - moving_average, tf.zeros_like(local),
        tf.fill(tf.shape(local), tf.cast(epoch, tf.float32))], axis=1)
    v = tf.reshape(tf.cast(self.mentornet(features), tf.float32), [-1])
    if self.burn_in_epoch > 0:
      v = tf.where(epoch < self.burn_in_epoch - 1, tf.ones_like(v), v)

    # Keep floor(global_batch x (1 - rate)) examples of the global batch, whatever the replica
    # count: every replica draws the same global mask and applies its own part.
    dropout_rate = tf.gather(self.example_dropout_schedule, epoch)
    batch_size = tf.shape(all_losses)[0]
    keep_count = tf.cast(tf.floor(tf.cast(batch_size, tf.float32) * (1.0 - dropout_rate)),
                         tf.int32)
    keep = random_keep_mask(batch_size, keep_count, step_info.seed)
    v = v * local_part(keep, tf.shape(v)[0])
    logs = {
        "percentile_loss": percentile_loss,
        "loss_moving_average": moving_average,
        "dropout_rate": dropout_rate,
        "epoch_step": tf.cast(epoch, tf.float32),
    }
    return v, logs

  def trust_scores(self, losses, step_info):
    """The MentorNet's v for `losses` float32 [batch] as a per-example trust (trust report).

    Uses the epoch feature of `step_info` (min(epoch, burn_in_epoch) when the epoch is fixed
    after burn-in) and the current loss moving average, which is not updated; no example
    dropout and no burn-in override. Returns float32 [batch] in [0, 1].
    """
    epoch = training_epoch(step_info.step, step_info.max_steps)
    if self.fixed_epoch_after_burn_in:
      epoch = tf.minimum(epoch, self.burn_in_epoch)
    losses = tf.cast(losses, tf.float32)
    moving_average = tf.cast(self.loss_moving_average, tf.float32)
    features = tf.stack([
        losses, losses - moving_average, tf.zeros_like(losses),
        tf.fill(tf.shape(losses), tf.cast(epoch, tf.float32))], axis=1)
    return tf.reshape(tf.cast(self.mentornet(features), tf.float32), [-1])
