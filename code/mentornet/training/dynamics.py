"""Per-example training dynamics, accumulated inside the train step (no extra pass).

`TrainingDynamics.sums` (float32 [num_examples, 7]) holds, for every training example id i in
[0, num_examples), running sums over the steps that saw it (the step's own augmented,
training-mode forward pass), columns `STATISTICS`:
  sum_margin   margin = logit of the given label - largest other logit (the area under the
               margin of Pleiss et al., NeurIPS 2020, is sum_margin / count);
  sum_loss     cross-entropy of the given label with the unscaled logits (nats);
  sum_v        the curriculum weight v (1 for the baseline and data parameters);
  count        how many times the example was seen;
  early_*      the same sums of margin and loss, and the count, over the steps before
               `early_steps` (default: half of training, the first learning-rate drop of the
               ResNet schedule), before a memorizing StudentNet has fit most wrong labels.
Every replica all-gathers the global batch's ids and values and applies the same
`tensor_scatter_nd_add`, so the sums are those of one replica holding the whole batch. `sums`
is a non-trainable Keras weight (aggregation "only_first_replica"): `checkpoints.make_checkpoint`
saves it with the run. Records without an id (id -1, the original format) or with an id past
`num_examples`, and non-finite values, add nothing.
"""
import keras
import numpy as np
import tensorflow as tf

from mentornet.curricula import base as curriculum_lib

STATISTICS = ("sum_margin", "sum_loss", "sum_v", "count", "early_sum_margin", "early_sum_loss",
              "early_count")


def margins(logits, labels):
  """float32 [batch]: logits[label] - max over the other classes (logits [batch, classes])."""
  logits = tf.cast(logits, tf.float32)
  given = tf.gather(logits, labels, axis=1, batch_dims=1)
  given_class = tf.one_hot(labels, tf.shape(logits)[1], on_value=True, off_value=False)
  others = tf.where(given_class, tf.constant(-np.inf, tf.float32), logits)
  return given - tf.reduce_max(others, axis=1)


class TrainingDynamics(keras.layers.Layer):
  """Running per-example sums of margin, loss, v and count (see the module docstring).

  Args:
    num_examples: rows (training-set size; ids 0..N-1).
    early_steps: global steps counted in the `early_*` sums (steps 0..early_steps-1).
  """

  def __init__(self, num_examples, early_steps, **kwargs):
    super().__init__(**kwargs)
    self.num_examples = int(num_examples)
    self.early_steps = int(early_steps)
    self.sums = self.add_weight(
        shape=(self.num_examples, len(STATISTICS)), initializer="zeros", trainable=False,
        name="sums", aggregation="only_first_replica")

  @classmethod
  def for_training(cls, num_examples, max_steps):
    """The dynamics of a `max_steps`-step run: its first half (up to the first learning-rate
    drop of the reduced regime) counted apart as `early_*`."""
    return cls(num_examples, max_steps // 2, name="training_dynamics")

  def update(self, ids, logits, labels, v, step):
    """Adds one step's global batch (all-gathered from every replica) to the sums.

    Args:
      ids: int [local_batch] example ids; logits: [local_batch, classes] (unscaled);
      labels: int32 [local_batch] given labels; v: float32 [local_batch] curriculum weights;
      step: int64 scalar global step (0-based).
    """
    logits = tf.stop_gradient(tf.cast(logits, tf.float32))
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    margin = margins(logits, labels)
    ones = tf.ones_like(losses)
    early = tf.cast(step < self.early_steps, tf.float32)
    values = tf.stack([margin, losses, tf.cast(tf.stop_gradient(v), tf.float32), ones,
                       early * margin, early * losses, early * ones], axis=1)
    ids = curriculum_lib.global_batch(tf.cast(tf.reshape(ids, [-1]), tf.int64))
    values = curriculum_lib.global_batch(values)  # [global_batch, 7]
    valid = tf.logical_and(ids >= 0, ids < self.num_examples)
    # A non-finite value (a diverged step) is left out rather than poisoning the sums.
    valid = tf.logical_and(valid, tf.reduce_all(tf.math.is_finite(values), axis=1))
    values = tf.where(valid[:, None], values, tf.zeros_like(values))
    indices = tf.where(valid, ids, tf.zeros_like(ids))[:, None]
    self.sums.assign(tf.tensor_scatter_nd_add(self.sums.value, indices, values))

  def statistics(self):
    """{name: numpy float64 [num_examples]} of the sums and counts (`STATISTICS`)."""
    sums = np.asarray(self.sums.numpy(), np.float64)
    return {name: sums[:, column] for column, name in enumerate(STATISTICS)}

  def means(self):
    """numpy float64 [N] (NaN where unseen): mean_margin, mean_loss, mean_v, early_mean_margin,
    early_mean_loss; and count, early_count."""
    sums = self.statistics()
    means = {"count": sums["count"], "early_count": sums["early_count"]}
    with np.errstate(invalid="ignore", divide="ignore"):
      for prefix in ("", "early_"):
        count = sums[f"{prefix}count"]
        names = ("margin", "loss", "v") if not prefix else ("margin", "loss")
        for name in names:
          means[f"{prefix}mean_{name}"] = np.where(count > 0, sums[f"{prefix}sum_{name}"] / count,
                                                   np.nan)
    return means
