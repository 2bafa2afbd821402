"""Data parameters (Saxena, Tuzel and DeCoste, NeurIPS 2019) as a curriculum of the trainer.

Every class c and/or every training example i owns a learnable temperature sigma > 0. In
training the logits of example i are divided by its effective sigma
  sigma_i = sigma_class[y_i]                      (class curriculum)
          = sigma_inst[i]                         (instance curriculum)
          = sigma_class[y_i] + sigma_inst[i]      (joint curriculum, as the authors' code)
so a large sigma flattens the loss of an example that the StudentNet cannot fit (e.g. a
corrupted label), and its gradients fade. Inference never scales logits.

Following the paper and the authors' code (apple/ml-data-parameters):
- the parameters are stored and optimized as log(sigma); the paper's initial values are
  sigma = 1 (class or instance alone) and, jointly, class 1.0 plus instance 0.001;
- each kind has its own SGD with momentum 0.9 (no dampening), learning rate and weight decay;
- the weight decay is the L2 penalty 0.5 * wd * sum(log_sigma^2) over the *examples* of the
  mini-batch (the authors add it to the loss per example), i.e. a row seen k times in the
  global batch gets gradient wd * k * log_sigma;
- momentum, weight decay and the update touch only the rows present in the mini-batch: an
  absent class or instance keeps its value and its momentum buffer;
- after the update the updated rows are clamped to log(sigma) in [log(1/20), log(20)] (the
  authors' `clamp_*_sigma`) unless `skip_clamp_data_param`. The authors clamp the whole
  tensor after every step; here only the rows just updated are clamped, so an instance
  initialized below the minimum (the joint 0.001) is lifted to it at its first update rather
  than at the first step of training.

The parameters are non-trainable Keras weights of this layer (aggregation
"only_first_replica"), so `checkpoints.make_checkpoint` saves and restores them with the
StudentNet; the Keras optimizer never sees them. The trainer hands their gradients (this
replica's share of the global objective) to `apply_gradients`, which sums them over replicas
with an all-reduce and applies the same sparse update on every replica.
"""
import dataclasses
import math
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from mentornet.curricula import base as curriculum_lib
from mentornet.errors import UsageError

MOMENTUM = 0.9
# The authors' clamp range of sigma (both kinds): [1/20, 20].
DEFAULT_CLAMP_SIGMA_MIN = 1.0 / 20.0
DEFAULT_CLAMP_SIGMA_MAX = 20.0
# Paper, implementation details: instance parameters start at 0.001 in the joint curriculum so
# that sigma_class + sigma_inst = 1.001, close to the plain softmax.
JOINT_INIT_INST_PARAM = 0.001
INVALID_ID_MESSAGE = (
    "instance data parameters need example ids 0..N-1 in the records (image/id); these files "
    "lack them (id -1, the original format?) or hold ids past the split size; rebuild the data "
    "with data_tools/make_noisy_data.py")


# The paper's noisy-label setting: instance parameters only, learning rate 0.2, no weight decay
# (what reproduce_small's data_parameters method and `mentornet.DataParameters()` run).
NOISY_LABEL_SETTINGS = {"learn_class_parameters": False, "learn_inst_parameters": True,
                        "lr_inst_param": 0.2, "wd_inst_param": 0.0}


@dataclasses.dataclass(frozen=True)
class DataParametersSettings:
  """The authors' hyper-parameters (their flag names); see the module docstring."""
  learn_class_parameters: bool = False
  learn_inst_parameters: bool = False
  lr_class_param: float = 0.1
  lr_inst_param: float = 0.1
  wd_class_param: float = 0.0
  wd_inst_param: float = 0.0
  init_class_param: float = 1.0
  # None: the paper's value, 1.0 alone and JOINT_INIT_INST_PARAM with class parameters.
  init_inst_param: Optional[float] = None
  skip_clamp_data_param: bool = False
  clamp_class_sigma_min: float = DEFAULT_CLAMP_SIGMA_MIN
  clamp_class_sigma_max: float = DEFAULT_CLAMP_SIGMA_MAX
  clamp_inst_sigma_min: float = DEFAULT_CLAMP_SIGMA_MIN
  clamp_inst_sigma_max: float = DEFAULT_CLAMP_SIGMA_MAX

  @property
  def resolved_init_inst_param(self):
    if self.init_inst_param is not None:
      return float(self.init_inst_param)
    return JOINT_INIT_INST_PARAM if self.learn_class_parameters else 1.0

  def validate(self):
    """Raises `UsageError` (one line, naming the flag) for settings that cannot train."""
    if not (self.learn_class_parameters or self.learn_inst_parameters):
      raise UsageError("--curriculum=data_parameters needs --learn_class_parameters and/or "
                       "--learn_inst_parameters")
    for name in ("lr_class_param", "lr_inst_param", "init_class_param"):
      value = getattr(self, name)
      if not (math.isfinite(value) and value > 0):
        raise UsageError(f"--{name} must be positive, got {value:g}")
    if self.init_inst_param is not None and not (
        math.isfinite(self.init_inst_param) and self.init_inst_param > 0):
      raise UsageError(f"--init_inst_param must be positive, got {self.init_inst_param:g}")
    for name in ("wd_class_param", "wd_inst_param"):
      value = getattr(self, name)
      if not (math.isfinite(value) and value >= 0):
        raise UsageError(f"--{name} must be non-negative, got {value:g}")
    for kind in ("class", "inst"):
      low = getattr(self, f"clamp_{kind}_sigma_min")
      high = getattr(self, f"clamp_{kind}_sigma_max")
      if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise UsageError(f"--clamp_{kind}_sigma_min={low:g} and --clamp_{kind}_sigma_max="
                         f"{high:g} must satisfy 0 < min < max")
    return self

  def as_dict(self):
    """JSON-ready record (train_config.json's curriculum_settings), init resolved."""
    record = dataclasses.asdict(self)
    record["init_inst_param"] = self.resolved_init_inst_param
    return record

  @classmethod
  def from_dict(cls, record):
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in (record or {}).items() if key in names})


# ---------------------------------------------------------------------------- data checks


def check_example_ids(files, num_examples, batch_size=4096):
  """Raises `UsageError` unless the records' ids are exactly 0..num_examples-1.

  Reads only the id feature of every record (seconds for CIFAR), before training starts.
  """
  from mentornet.data import records
  spec = {records.ID_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=records.MISSING)}
  dataset = (tf.data.TFRecordDataset(list(files)).batch(batch_size)
             .map(lambda serialized: tf.io.parse_example(serialized, spec)[records.ID_KEY]))
  ids = np.concatenate(list(dataset.as_numpy_iterator()) or
                       [np.zeros([0], np.int64)])
  if len(ids) and ids.min() < 0:
    raise UsageError(f"{INVALID_ID_MESSAGE} ({int(np.sum(ids < 0))} records without an id)")
  if len(ids) != num_examples or not np.array_equal(np.sort(ids), np.arange(num_examples)):
    raise UsageError(f"{INVALID_ID_MESSAGE} (ids are not a permutation of 0..{num_examples - 1})")


# ---------------------------------------------------------------------------- curriculum


@dataclasses.dataclass(frozen=True)
class _ParameterGroup:
  """One kind of data parameter: its variables and optimizer settings."""
  kind: str  # "class" or "inst"
  log_sigma: keras.Variable  # float32 [rows]
  velocity: keras.Variable  # float32 [rows], the momentum buffer
  learning_rate: float
  weight_decay: float
  clamp: Optional[tuple]  # (min, max) of log sigma, or None


def _gradient_at(gradient, ids):
  """This replica's gradient of a 1-D variable at rows `ids` [n] -> float32 [n].

  `gradient` is dense [rows], `tf.IndexedSlices` (from a gather; indices may repeat) or None.
  Repeated ids in `ids` each receive the full sum of their row.
  """
  if gradient is None:
    return tf.zeros(tf.shape(ids), tf.float32)
  if isinstance(gradient, tf.IndexedSlices):
    indices = tf.cast(tf.reshape(gradient.indices, [-1]), ids.dtype)
    values = tf.cast(tf.reshape(gradient.values, [-1]), tf.float32)
    match = tf.cast(tf.equal(ids[:, None], indices[None, :]), tf.float32)
    return tf.linalg.matvec(match, values)
  return tf.gather(tf.cast(gradient, tf.float32), ids)


class DataParametersCurriculum(curriculum_lib.Curriculum):
  """Learned class and/or instance temperatures that scale the training logits.

  Args:
    num_classes: rows of the class parameters.
    num_examples: rows of the instance parameters (training-set size; ids are 0..N-1).
    settings: `DataParametersSettings` (validated here).
  """

  def __init__(self, num_classes, num_examples, settings, **kwargs):
    super().__init__(**kwargs)
    settings = settings.validate()
    self.settings = settings
    self.num_classes = int(num_classes)
    self.num_examples = int(num_examples)
    self.learn_class_parameters = settings.learn_class_parameters
    self.learn_inst_parameters = settings.learn_inst_parameters
    if self.learn_class_parameters:
      self.log_class_sigma, self.class_velocity = self._add_parameters(
          "class", self.num_classes, settings.init_class_param)
    if self.learn_inst_parameters:
      self.log_inst_sigma, self.inst_velocity = self._add_parameters(
          "inst", self.num_examples, settings.resolved_init_inst_param)

  def _add_parameters(self, kind, rows, init_sigma):
    log_sigma = self.add_weight(
        shape=(rows,), initializer=keras.initializers.Constant(math.log(init_sigma)),
        trainable=False, name=f"log_{kind}_sigma", aggregation="only_first_replica")
    velocity = self.add_weight(
        shape=(rows,), initializer="zeros", trainable=False, name=f"{kind}_velocity",
        aggregation="only_first_replica")
    return log_sigma, velocity

  def _groups(self):
    """The learned kinds, in `curriculum_variables` order."""
    groups = []
    s = self.settings
    for kind, learned in (("class", self.learn_class_parameters),
                          ("inst", self.learn_inst_parameters)):
      if not learned:
        continue
      clamp = None
      if not s.skip_clamp_data_param:
        clamp = (math.log(getattr(s, f"clamp_{kind}_sigma_min")),
                 math.log(getattr(s, f"clamp_{kind}_sigma_max")))
      groups.append(_ParameterGroup(
          kind, getattr(self, f"log_{kind}_sigma"), getattr(self, f"{kind}_velocity"),
          getattr(s, f"lr_{kind}_param"), getattr(s, f"wd_{kind}_param"), clamp))
    return groups

  def example_ids(self, features):
    """int64 [batch] ids of `features["id"]`, checked to lie in [0, num_examples)."""
    ids = tf.cast(features["id"], tf.int64)
    # A no-op under XLA; the training script checks the files before training starts.
    tf.debugging.assert_greater_equal(ids, tf.constant(0, tf.int64), message=INVALID_ID_MESSAGE)
    tf.debugging.assert_less(ids, tf.constant(self.num_examples, tf.int64),
                             message=INVALID_ID_MESSAGE)
    return ids

  def _rows(self, kind, labels, ids):
    return tf.cast(labels, tf.int64) if kind == "class" else ids

  def effective_sigma(self, labels, ids):
    """float32 [batch]: sigma_class[label] (+) sigma_inst[id] of the learned kinds.

    Args:
      labels: int [batch] training labels.
      ids: int64 [batch] example ids (ignored without instance parameters; may be None).
    """
    sigma = tf.zeros(tf.shape(labels), tf.float32)
    for group in self._groups():
      sigma += tf.exp(tf.gather(group.log_sigma, self._rows(group.kind, labels, ids)))
    return sigma

  def _ids_or_none(self, features):
    return self.example_ids(features) if self.learn_inst_parameters else None

  def scale_logits(self, logits, labels, features):
    """logits [batch, classes] / sigma [batch, 1] (training only)."""
    sigma = self.effective_sigma(labels, self._ids_or_none(features))
    return logits / tf.cast(sigma, logits.dtype)[:, None]

  def example_weights(self, losses, labels, features, step_info):
    """v = 1: data parameters reweight through the logits. Logs the mean sigmas."""
    del step_info
    logs = {"batch_sigma_mean": tf.reduce_mean(
        self.effective_sigma(labels, self._ids_or_none(features)))}
    for group in self._groups():
      logs[f"{group.kind}_sigma_mean"] = tf.reduce_mean(tf.exp(group.log_sigma))
    return tf.ones_like(losses), logs

  @property
  def curriculum_variables(self):
    return [group.log_sigma for group in self._groups()]

  def apply_gradients(self, gradients, labels, features):
    """Sparse SGD with momentum on the rows of the global mini-batch.

    Args:
      gradients: list aligned with `curriculum_variables`; this replica's gradients (dense,
        `tf.IndexedSlices` or None) of its share of the global objective.
      labels: int [local_batch]; features: dict with `id` int64 [local_batch].
    """
    ids = self._ids_or_none(features)
    for group, gradient in zip(self._groups(), gradients):
      local_rows = self._rows(group.kind, labels, ids)
      rows = curriculum_lib.global_batch(local_rows)  # [global_batch], may repeat
      summed = curriculum_lib.global_sum(_gradient_at(gradient, rows))
      self._sparse_momentum_step(group, summed, rows)

  def _sparse_momentum_step(self, group, gradient, rows):
    """Updates `rows` [n] (repeats allowed) of `group` given their summed gradient [n]."""
    log_sigma = tf.gather(group.log_sigma, rows)
    velocity = tf.gather(group.velocity, rows)
    occurrences = tf.reduce_sum(tf.cast(tf.equal(rows[:, None], rows[None, :]), tf.float32), 1)
    gradient += group.weight_decay * occurrences * log_sigma
    new_velocity = MOMENTUM * velocity + gradient
    new_log_sigma = log_sigma - group.learning_rate * new_velocity
    if group.clamp is not None:
      new_log_sigma = tf.clip_by_value(new_log_sigma, *group.clamp)
    # A non-finite step (e.g. a skipped mixed-precision step) leaves the parameters alone.
    finite = tf.logical_and(tf.reduce_all(tf.math.is_finite(new_log_sigma)),
                            tf.reduce_all(tf.math.is_finite(new_velocity)))
    new_log_sigma = tf.where(finite, new_log_sigma, log_sigma)
    new_velocity = tf.where(finite, new_velocity, velocity)
    # Repeated rows carry identical values, so the scatter is well defined.
    indices = rows[:, None]
    group.velocity.assign(tf.tensor_scatter_nd_update(group.velocity.value, indices,
                                                      new_velocity))
    group.log_sigma.assign(tf.tensor_scatter_nd_update(group.log_sigma.value, indices,
                                                       new_log_sigma))

  def trust_scores(self, labels, ids):
    """float32 [batch] trust = -effective sigma: a large sigma (a label the model cannot fit,
    e.g. a corrupted one) means low trust."""
    ids = tf.cast(ids, tf.int64) if self.learn_inst_parameters else None
    return -self.effective_sigma(labels, ids)

  def sigmas(self):
    """{'class': float32 [C], 'inst': float32 [N]} of the learned kinds (numpy)."""
    return {group.kind: np.exp(group.log_sigma.numpy()) for group in self._groups()}
