"""The one StudentNet trainer: a `keras.Model` whose `train_step` applies a curriculum.

`StudentTrainer.train_step`, per mini-batch (all TF ops, XLA-compilable, replica-aware):
  per-example cross-entropy -> curriculum weights v (constants) ->
  loss = sum(loss * v) / global_batch + weight_decay * sum(v) / global_batch.
With `NoCurriculum` (v = 1) this is exactly the baseline objective mean(loss) + weight_decay.
With `num_examples` (as `loop.build_trainer` sets), the step also adds its global batch's
per-example margin, loss and v to `dynamics` (`training.dynamics`); nothing else changes.
A curriculum with `needs_second_pass` (MentorMix) replaces (loss, v) by those of a second
forward pass it builds from the first pass's losses and v (`Curriculum.second_pass`); the first
pass's batch-norm statistic updates are kept and the second's undone, or the reverse
(`Curriculum.keeps_first_pass_statistics`), and `orig_loss` stays the first pass's mean loss.
From the first step whose loss, gradients, batch-norm statistics or updated weights are NaN or
Inf on, steps update nothing and `nonfinite_step` (also in the step logs) holds that step;
`training_loop` then stops the run without saving it. Under a `LossScaleOptimizer`
(mixed_float16), which skips steps with non-finite gradients itself, `skipped_steps` (also in
the step logs) counts the consecutive skipped steps; `callbacks.StopOnNonFinite` stops a run
whose steps are all skipped for `defaults.MAX_CONSECUTIVE_SKIPPED_STEPS`.
"""
import keras
import tensorflow as tf

from mentornet.config import defaults
from mentornet.curricula import base as curriculum_lib
from mentornet.training import distribution
from mentornet.training import dynamics as dynamics_lib

# Keras log names -> the original's TensorBoard tag (or tags).
SUMMARY_TAGS = {
    "data_util": "data_util/data_util",
    "batch_sum_v": "data_util/batch_sum_v",
    "orig_loss": "mentornet/orig_loss",
    "weighted_loss": "mentornet/weighted_loss",
    "total_loss": ("mentornet/total_loss", "total_loss"),
    "learning_rate": "learning_rate",
    "percentile_loss": "debug/percentile_loss",
    "dropout_rate": "debug/dropout_rate",
    "epoch_step": "debug/epoch_step",
    "loss_moving_average": "debug/loss_moving_percentile",
    "accuracy": "train/accuracy",
    # MentorMix (curricula.mentormix): the authors' mix loss and 'mixed' moving average.
    "mix_loss": "mentormix/mix_loss",
    "mixed_percentile_loss": "mixed/percentile_loss",
    "mixed_loss_moving_average": "mixed/loss_moving_average",
    "mix_lambda_mean": "mentormix/lambda_mean",
    "mix_partner_v_mean": "mentormix/partner_v_mean",
    "first_batch_sum_v": "mentormix/first_batch_sum_v",
}


def student_inputs(features):
  """The student's input in a batch's features: `features["image"]` (the TFRecord pipeline),
  `features["x"]` when the features are `{"x": inputs, "id": example ids}` (how
  `mentornet.keras_api` wraps any input), else `features` itself (any tensor or structure)."""
  if isinstance(features, dict):
    if "image" in features:
      return features["image"]
    if set(features) == {"x", "id"}:
      return features["x"]
  return features


def sparse_labels(labels):
  """int32 [batch] class ids of int labels [batch] or [batch, 1], or one-hot [batch, classes]."""
  labels = tf.convert_to_tensor(labels)
  if labels.shape.rank == 2 and labels.shape[-1] != 1:
    return tf.argmax(labels, axis=-1, output_type=tf.int32)
  return tf.reshape(tf.cast(labels, tf.int32), [-1])


def _divide_gradient(gradient, divisor):
  """gradient / divisor for a dense gradient, `tf.IndexedSlices` or None."""
  if gradient is None:
    return None
  if isinstance(gradient, tf.IndexedSlices):
    return tf.IndexedSlices(gradient.values / tf.cast(divisor, gradient.values.dtype),
                            gradient.indices, gradient.dense_shape)
  return gradient / tf.cast(divisor, gradient.dtype)


def _all_finite(tensors):
  """Scalar bool: every element of `tensors` (dense, `tf.IndexedSlices` or None) is finite.
  Integer tensors (e.g. a dropout layer's seed-generator state) are always finite: skipped."""
  values = [t.values if isinstance(t, tf.IndexedSlices) else t for t in tensors if t is not None]
  checks = [tf.reduce_all(tf.math.is_finite(v)) for v in values
            if tf.as_dtype(v.dtype).is_floating]
  return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def _zero_unless(keep, gradient):
  """`gradient` where the scalar bool `keep` holds, else zeros (dense, IndexedSlices or None)."""
  if gradient is None:
    return None
  if isinstance(gradient, tf.IndexedSlices):
    return tf.IndexedSlices(tf.where(keep, gradient.values, tf.zeros_like(gradient.values)),
                            gradient.indices, gradient.dense_shape)
  return tf.where(keep, gradient, tf.zeros_like(gradient))


class StudentTrainer(keras.Model):
  """Trains `student` (inputs -> logits) under `curriculum`.

  Batches are (features, labels): features a dict with `image` (the TFRecord pipeline) or
  `{"x": inputs, "id": int64 [batch] example ids}`, or the inputs alone (no ids: curricula that
  need them, e.g. instance data parameters, cannot run); labels int [batch] or one-hot.

  Args:
    student: keras.Model, inputs (e.g. float32 [batch, 32, 32, 3]) -> logits [batch, classes].
      Its `losses` hold the L2 weight decay.
    curriculum: a `curriculum.Curriculum`.
    max_steps: training length in global steps (defines the MentorNet epoch feature); None
      until `set_max_steps` (before training).
    random_seed: base of the per-step stateless seeds (example dropout).
    num_examples: training-set size; when given, `dynamics` (a `dynamics.TrainingDynamics`)
      accumulates every example's margin, loss and v over training (by `features["id"]`),
      and over its first half apart.
  """

  def __init__(self, student, curriculum, max_steps, random_seed=0, num_examples=None,
               **kwargs):
    super().__init__(**kwargs)
    self.student = student
    self.curriculum = curriculum
    self.max_steps = None if max_steps is None else int(max_steps)
    self.random_seed = int(random_seed)
    self.dynamics = (dynamics_lib.TrainingDynamics.for_training(num_examples, self.max_steps)
                     if num_examples else None)
    # Fraction of examples with v > 0.001 over the whole job, as the original's cumulative
    # data_util; kept out of `metrics` so that `fit` does not reset it every epoch.
    self.data_util_tracker = keras.metrics.Mean(name="data_util")
    self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    # The first global step (1-based, as checkpoint numbers) that was not finite (see
    # `_finite_step`, `_record_nonfinite`); 0 while every step was finite.
    self.nonfinite_step = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                          trainable=False, name="nonfinite_step",
                                          aggregation="only_first_replica")
    # Consecutive steps a `LossScaleOptimizer` skipped (non-finite gradients on some replica);
    # 0 after a step it applied, always 0 without one. Not checkpointed.
    self.skipped_steps = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                         trainable=False, name="skipped_steps",
                                         aggregation="only_first_replica")
    self.built = student.built

  def set_max_steps(self, max_steps):
    """Sets the training length in global steps; a changed length retraces the train step."""
    if self.max_steps != int(max_steps):
      self.max_steps = int(max_steps)
      self.train_function = None

  def build(self, input_shape=None):
    self.student.build(input_shape)
    self.built = True

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # Keras would all-reduce a sample batch here to trace shapes, which fails for dict features
    # under MultiWorkerMirroredStrategy. Student, curriculum and optimizer are built eagerly by
    # `training_loop.build_trainer`, so there is nothing left to trace.
    if self.built and self.optimizer is not None and self.optimizer.built:
      return
    super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

  def call(self, inputs, training=False):
    return self.student(student_inputs(inputs), training=training)

  @property
  def metrics(self):
    return [self.loss_tracker, self.accuracy_tracker]

  def _step_seed(self, step):
    """int64 [2] stateless seed of a step, the same on every replica (global-batch draws)."""
    return tf.stack([tf.cast(self.random_seed, tf.int64) * 1000003, step])

  def train_step(self, data):
    if self.max_steps is None:
      raise ValueError("StudentTrainer.set_max_steps(steps) must come before training")
    features, labels = data
    labels = sparse_labels(labels)
    ctx = tf.distribute.get_replica_context()
    num_replicas = ctx.num_replicas_in_sync if ctx else 1
    step = tf.cast(self.optimizer.iterations, tf.int64)
    second_pass = self.curriculum.needs_second_pass
    first_forward = second_forward = self._training_logits
    if second_pass:  # One of the two passes leaves the batch-norm statistics as they were.
      if self.curriculum.keeps_first_pass_statistics:
        second_forward = self._forward_undoing_statistics
      else:
        first_forward = self._forward_undoing_statistics
    with tf.GradientTape() as tape:
      # Curriculum variables (data parameters) are non-trainable Keras weights: watch them.
      for variable in self.curriculum.curriculum_variables:
        tape.watch(variable.value if isinstance(variable, keras.Variable) else variable)
      logits = first_forward(student_inputs(features))
      scaled_logits = self.curriculum.scale_logits(logits, labels, features)
      losses = keras.losses.sparse_categorical_crossentropy(labels, scaled_logits,
                                                            from_logits=True)
      # A curriculum that needs the global batch's losses (percentile) gathers them itself.
      step_info = curriculum_lib.StepInfo(step=step, max_steps=self.max_steps,
                                          seed=self._step_seed(step))
      v, curriculum_logs = self.curriculum.example_weights(losses, labels, features, step_info)
      v = tf.stop_gradient(v)
      first_v = v
      if second_pass:
        first_losses = tf.stop_gradient(losses)
        losses, v, second_logs = self.curriculum.second_pass(
            second_forward, student_inputs(features), labels, first_losses, v, step_info)
        v = tf.stop_gradient(v)
        curriculum_logs = {**curriculum_logs, **second_logs}
      # Global-batch sums from one all-reduce of per-replica sums; v itself is not gathered.
      local_losses = tf.stop_gradient(losses)
      sums = [tf.cast(tf.size(v), tf.float32), tf.reduce_sum(v), tf.reduce_sum(local_losses),
              tf.reduce_sum(local_losses * v),
              tf.reduce_sum(tf.cast(v > defaults.SELECTED_WEIGHT_THRESHOLD, tf.float32))]
      if second_pass:
        sums.append(tf.reduce_sum(first_losses))
      sums = tf.unstack(curriculum_lib.global_sum(tf.stack(sums)))
      global_batch_size, sum_v, sum_losses, sum_weighted_losses, num_selected = sums[:5]
      if second_pass:
        sum_losses = sums[5]  # orig_loss: the first pass's mean loss
      used_fraction = sum_v / global_batch_size
      decay = tf.add_n(self.student.losses) if self.student.losses else tf.constant(0.0)
      decay = tf.cast(decay, tf.float32)
      # This replica's share of the global objective; gradients are summed over replicas.
      replica_loss = (tf.reduce_sum(losses * v) / global_batch_size +
                      decay * used_fraction / num_replicas)
      scaled_loss = self.optimizer.scale_loss(replica_loss)
    if self.dynamics is not None and "id" in features:
      # The first pass's unscaled logits and weights (MentorMix: before its mixing).
      self.dynamics.update(features["id"], logits, labels, first_v, step)
    student_vars = self.student.trainable_variables
    curriculum_vars = self.curriculum.curriculum_variables
    gradients = tape.gradient(scaled_loss, student_vars + curriculum_vars)
    learning_rate = tf.cast(self.optimizer.learning_rate, tf.float32)  # this step's rate
    weighted_loss = sum_weighted_losses / global_batch_size
    total_loss = weighted_loss + decay * used_fraction
    # From the first non-finite step on, nothing is updated (gradients zeroed).
    finite = self._finite_step(total_loss, gradients)
    healthy = tf.logical_and(finite, tf.convert_to_tensor(self.nonfinite_step) == 0)
    gradients = [_zero_unless(healthy, g) for g in gradients]
    # What a LossScaleOptimizer decides from the gradients it gets: skip when not all finite.
    skipped = tf.constant(False)
    if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
      skipped = tf.logical_not(_all_finite(gradients[:len(student_vars)]))
    self.optimizer.apply(gradients[:len(student_vars)], student_vars)
    if curriculum_vars:
      # Undo a mixed-precision loss scale (1 otherwise): the curriculum gets true gradients.
      loss_scale = tf.cast(self.optimizer.scale_loss(tf.constant(1.0)), tf.float32)
      curriculum_gradients = [_divide_gradient(g, loss_scale)
                              for g in gradients[len(student_vars):]]
      self.curriculum.apply_gradients(curriculum_gradients, labels, features)
    self._record_nonfinite(step, finite, skipped, num_replicas)

    self.loss_tracker.update_state(total_loss)
    self.accuracy_tracker.update_state(labels, logits)
    # The share of selected examples, counted over the global batch (a Mean over examples).
    self.data_util_tracker.update_state(num_selected / global_batch_size,
                                        sample_weight=global_batch_size)
    logs = {m.name: m.result() for m in self.metrics + [self.data_util_tracker]}
    logs.update(curriculum_logs)
    logs.update({
        "orig_loss": sum_losses / global_batch_size,
        "weighted_loss": weighted_loss,
        "total_loss": total_loss,
        "batch_sum_v": sum_v,
        "learning_rate": learning_rate,
        "nonfinite_step": tf.cast(self.nonfinite_step, tf.float32),
        "skipped_steps": tf.cast(self.skipped_steps, tf.float32),
    })
    if self._multi_worker:
      # Keras reduces logs across workers with `reduce(MEAN, axis=0)`, which needs a batch axis.
      logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs

  def _training_logits(self, images):
    """float32 logits of a training-mode forward pass."""
    return tf.cast(self.student(images, training=True), tf.float32)

  def _forward_undoing_statistics(self, images):
    """`_training_logits`, then the StudentNet's float state (batch-norm statistics) put back
    as it was before the pass (the assignments run after the pass's own updates)."""
    state = [variable for variable in self.student.non_trainable_variables
             if tf.as_dtype(variable.dtype).is_floating]
    saved = [tf.identity(tf.convert_to_tensor(variable)) for variable in state]
    logits = self._training_logits(images)
    for variable, value in zip(state, saved):
      variable.assign(value)
    return logits

  def _finite_step(self, total_loss, gradients):
    """Scalar bool, this replica's view before the update: the global `total_loss`, the
    StudentNet's non-trainable state (batch-norm statistics, already updated by the forward
    pass) and the gradients are finite. Gradients are not checked under a `LossScaleOptimizer`,
    which skips non-finite ones itself (they are expected while its scale adapts)."""
    checks = [tf.math.is_finite(total_loss), _all_finite(self.student.non_trainable_variables)]
    if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
      checks.append(_all_finite(gradients))
    return tf.reduce_all(tf.stack(checks))

  def _record_nonfinite(self, step, finite_before, skipped, num_replicas):
    """Records `step` + 1 in `nonfinite_step` (if none yet) unless this step was finite on
    every replica, updated weights included, and counts `skipped_steps` on while the loss-scale
    optimizer skipped this step on some replica (bool `skipped`); one all-reduce of two
    scalars makes replicas agree."""
    finite = tf.logical_and(finite_before, _all_finite(self.student.trainable_variables))
    bad = tf.cast(tf.stack([tf.logical_not(finite), skipped]), tf.float32)
    if num_replicas > 1:
      bad = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, bad)
    previous = tf.convert_to_tensor(self.nonfinite_step)
    self.nonfinite_step.assign(
        tf.where(tf.logical_and(previous == 0, bad[0] > 0.0), step + 1, previous))
    self.skipped_steps.assign(
        tf.where(bad[1] > 0.0, tf.convert_to_tensor(self.skipped_steps) + 1,
                 tf.constant(0, tf.int64)))

  @property
  def _multi_worker(self):
    strategy = self.distribute_strategy
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and
            distribution.num_workers_in_env() > 1)

  def test_step(self, data):
    features, labels = data
    labels = sparse_labels(labels)
    logits = tf.cast(self.student(student_inputs(features), training=False), tf.float32)
    losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    self.loss_tracker.update_state(losses)
    self.accuracy_tracker.update_state(labels, logits)
    return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}
