"""Registry of StudentNets: architectures, their optimizers and learning-rate schedules.

One entry per `--studentnet` name. Every script (baseline, MentorNet, eval, dump) builds its
model through `build_studentnet`, so training and evaluation always share one code path.

- `resnet101`: the wide pre-activation ResNet of the original (a WRN-56-10 at the default
  `num_residual_units=9`, `widths=(16, 160, 320, 640)`), leaky ReLU 0.1, L2 decay 0.0002,
  TF1-form momentum 0.9 (`TF1Momentum`).
- `inception`: slim's cifarnet, plain SGD, no weight decay as the original trained it
  (`cifarnet_fc_weight_decay` adds L2 on the fully connected layers).
"""
import dataclasses
import math
from typing import Callable
from typing import Tuple

import keras
import numpy as np

# The defaults live in mentornet.config.defaults; these names are the registry's view of them.
from mentornet.config.defaults import FUSED_BATCH_NORM_DEFAULT
from mentornet.config.defaults import ORIGINAL_RESNET_STEPS
from mentornet.config.defaults import RESNET_DEFAULT_UNITS
from mentornet.config.defaults import RESNET_DEFAULT_WIDTHS
from mentornet.config.defaults import RESNET_MENTORNET_BOUNDARIES
from mentornet.config.defaults import RESNET_MENTORNET_MULTIPLIERS
from mentornet.errors import UsageError
from mentornet.models.batch_norm import FusedBatchNormalization

# The last layer of every StudentNet computes in float32 under any mixed-precision policy, so the
# losses, the MentorNet's features and the trust report come from float32 logits (the variables,
# float32 under every policy, and so the checkpoints are the same).
LOGITS_DTYPE = "float32"


def scaled_resnet_boundaries(max_steps):
  """The original ResNet drop points (19531, 25000, 30000 of 39000 steps: 50%, 64% and 77% of
  training) scaled to a run of `max_steps` global steps."""
  return tuple(max(1, round(b / ORIGINAL_RESNET_STEPS * max_steps))
               for b in RESNET_MENTORNET_BOUNDARIES)


@dataclasses.dataclass(frozen=True)
class StudentNetConfig:
  """Size of the StudentNet; only the ResNet reads these."""
  num_residual_units: int = RESNET_DEFAULT_UNITS
  resnet_widths: Tuple[int, ...] = RESNET_DEFAULT_WIDTHS
  # Use cross-replica batch statistics, so results do not depend on the replica count.
  sync_batch_norm: bool = True
  # L2 rate on cifarnet's fc3/fc4 kernels. The original's arg scope declared 0.004, but neither
  # of its training scripts added the regularization losses to the loss: 0 trains as it did.
  cifarnet_fc_weight_decay: float = 0.0
  # ResNet batch norm trains with TensorFlow's fused kernel (`batch_norm.FusedBatchNormalization`,
  # the same variables and results as the Keras layer); cifarnet has no batch norm.
  fused_batch_norm: bool = FUSED_BATCH_NORM_DEFAULT


# ----------------------------------------------------------------------------- ResNet


def _leaky_relu(x):
  return keras.ops.leaky_relu(x, negative_slope=0.1)


class _ResNetBlocks:
  """Builds the pre-activation ResNet with the Keras functional API."""

  def __init__(self, weight_decay, sync_batch_norm, fused_batch_norm):
    # TF1 `weight_decay_rate * tf.nn.l2_loss(w)` == Keras L2(weight_decay_rate / 2).
    self.regularizer = keras.regularizers.L2(weight_decay / 2.0)
    self.sync_batch_norm = sync_batch_norm
    self.batch_norm_class = (FusedBatchNormalization if fused_batch_norm
                             else keras.layers.BatchNormalization)

  def batch_norm(self, x, name):
    return self.batch_norm_class(
        momentum=0.9, epsilon=0.001, synchronized=self.sync_batch_norm, name=name)(x)

  def conv(self, x, filters, stride, name):
    fan_out = 3 * 3 * filters
    return keras.layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / fan_out)),
        kernel_regularizer=self.regularizer, name=name)(x)

  def residual_unit(self, x, in_filters, out_filters, stride, activate_before_residual, name):
    """One unit: (BN, leaky ReLU, conv3x3) twice, plus an identity-like shortcut."""
    if activate_before_residual:
      # The original applies the activation first and BN second here.
      x = keras.layers.Activation(_leaky_relu, name=f"{name}_shared_relu")(x)
      x = self.batch_norm(x, f"{name}_shared_bn")
      shortcut = x
    else:
      shortcut = x
      x = self.batch_norm(x, f"{name}_bn1")
      x = keras.layers.Activation(_leaky_relu, name=f"{name}_relu1")(x)
    x = self.conv(x, out_filters, stride, f"{name}_conv1")
    x = self.batch_norm(x, f"{name}_bn2")
    x = keras.layers.Activation(_leaky_relu, name=f"{name}_relu2")(x)
    x = self.conv(x, out_filters, 1, f"{name}_conv2")
    if stride != 1:
      shortcut = keras.layers.AveragePooling2D(stride, stride, padding="valid",
                                               name=f"{name}_shortcut_pool")(shortcut)
    if in_filters != out_filters:
      pad = (out_filters - in_filters) // 2
      shortcut = keras.layers.Lambda(
          lambda t, p=pad: keras.ops.pad(t, [[0, 0], [0, 0], [0, 0], [p, p]]),
          name=f"{name}_shortcut_pad")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([x, shortcut])


def build_resnet(num_classes, config=StudentNetConfig(), weight_decay=0.0002,
                 image_shape=(32, 32, 3)):
  """Wide pre-activation ResNet; input float [batch, 32, 32, 3], output logits [batch, classes]."""
  widths = tuple(config.resnet_widths)
  if len(widths) != 4 or any(w <= 0 for w in widths):
    raise UsageError(f"--resnet_widths needs 4 positive integers, got {','.join(map(str, widths))}")
  if any((b - a) % 2 for a, b in zip(widths[:-1], widths[1:]) if b != a):
    raise UsageError(f"--resnet_widths={','.join(map(str, widths))}: each width change must be "
                     "even (the shortcut zero-pads channels equally on both sides)")
  if config.num_residual_units < 1:
    raise UsageError(f"--num_residual_units must be >= 1, got {config.num_residual_units}")
  blocks = _ResNetBlocks(weight_decay, config.sync_batch_norm, config.fused_batch_norm)
  images = keras.Input(image_shape, name="image")
  x = blocks.conv(images, widths[0], 1, "init_conv")
  strides = (1, 2, 2)
  for stage in range(3):
    in_filters, out_filters = widths[stage], widths[stage + 1]
    for unit in range(config.num_residual_units):
      x = blocks.residual_unit(
          x, in_filters if unit == 0 else out_filters, out_filters,
          strides[stage] if unit == 0 else 1,
          activate_before_residual=(stage == 0 and unit == 0),
          name=f"unit_{stage + 1}_{unit}")
  x = blocks.batch_norm(x, "final_bn")
  x = keras.layers.Activation(_leaky_relu, name="final_relu")(x)
  x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
  logits = keras.layers.Dense(
      num_classes, kernel_initializer=keras.initializers.VarianceScaling(
          1.0, mode="fan_in", distribution="uniform"),
      kernel_regularizer=blocks.regularizer, dtype=LOGITS_DTYPE, name="logits")(x)
  name = f"resnet_{6 * config.num_residual_units + 2}_{'_'.join(map(str, widths))}"
  return keras.Model(images, logits, name=name)


# ---------------------------------------------------------------------------- cifarnet


def _local_response_norm(x):
  """slim's LRN; computed in float32 (TensorFlow has no bfloat16 kernel on CPUs and no float16
  one on GPUs) and returned in the input's dtype, so cifarnet trains under mixed precision."""
  import tensorflow as tf
  normalized = tf.nn.local_response_normalization(tf.cast(x, tf.float32), depth_radius=4,
                                                  bias=1.0, alpha=0.001 / 9.0, beta=0.75)
  return tf.cast(normalized, x.dtype)


def build_cifarnet(num_classes, config=StudentNetConfig(), image_shape=(32, 32, 3)):
  """slim's cifarnet; input float [batch, 32, 32, 3], output logits [batch, classes]."""
  fc_regularizer = None
  if config.cifarnet_fc_weight_decay:
    fc_regularizer = keras.regularizers.L2(config.cifarnet_fc_weight_decay / 2.0)
  trunc = keras.initializers.TruncatedNormal
  images = keras.Input(image_shape, name="image")
  x = keras.layers.Conv2D(64, 5, padding="same", activation="relu",
                          kernel_initializer=trunc(stddev=5e-2), name="conv1")(images)
  x = keras.layers.MaxPooling2D(2, 2, name="pool1")(x)
  x = keras.layers.Lambda(_local_response_norm, name="norm1")(x)
  x = keras.layers.Conv2D(64, 5, padding="same", activation="relu",
                          kernel_initializer=trunc(stddev=5e-2), name="conv2")(x)
  x = keras.layers.Lambda(_local_response_norm, name="norm2")(x)
  x = keras.layers.MaxPooling2D(2, 2, name="pool2")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  for units, name in ((384, "fc3"), (192, "fc4")):
    x = keras.layers.Dense(units, activation="relu", kernel_initializer=trunc(stddev=0.04),
                           bias_initializer=keras.initializers.Constant(0.1),
                           kernel_regularizer=fc_regularizer, name=name)(x)
    if name == "fc3":
      x = keras.layers.Dropout(0.2, name="dropout3")(x)  # keep probability 0.8
  logits = keras.layers.Dense(num_classes, kernel_initializer=trunc(stddev=1 / 192.0),
                              dtype=LOGITS_DTYPE, name="logits")(x)
  return keras.Model(images, logits, name="cifarnet")


# --------------------------------------------------------------------------- optimizer


@keras.saving.register_keras_serializable(package="mentornet")
class TF1Momentum(keras.optimizers.SGD):
  """TF1's `tf.train.MomentumOptimizer`, the original's optimizer for the ResNet.

  accumulator = momentum * accumulator + gradient; variable -= learning_rate * accumulator.
  Keras SGD keeps velocity = momentum * velocity - learning_rate * gradient instead: the same
  at a constant rate, but after a learning-rate drop TF1's whole accumulator moves at the new
  rate at once, while Keras's velocity still carries steps taken at the old rate.
  """

  def update_step(self, gradient, variable, learning_rate):
    learning_rate = keras.ops.cast(learning_rate, variable.dtype)
    gradient = keras.ops.cast(gradient, variable.dtype)
    accumulator = self.momentums[self._get_variable_index(variable)]
    self.assign(accumulator, keras.ops.add(
        keras.ops.multiply(accumulator, keras.ops.cast(self.momentum, variable.dtype)), gradient))
    self.assign_sub(variable, keras.ops.multiply(learning_rate, accumulator))


# ---------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class StudentNetSpec:
  """What a `--studentnet` name means: model, input preprocessing and optimization."""
  name: str
  build: Callable[..., keras.Model]
  # Pixels of zero padding on each side before the random 32x32 training crop.
  train_crop_padding: int
  momentum: float
  # Piecewise-constant lr for MentorNet runs (the original's ResNet); otherwise staircase
  # exponential decay every `num_epochs_per_decay` epochs.
  mentornet_piecewise_lr: bool

  def learning_rate_schedule(self, learning_rate, decay_factor, num_epochs_per_decay,
                             num_examples, batch_size, with_mentornet, boundaries=None):
    """The original's schedule, in global steps.

    `boundaries` (global steps) overrides it for every curriculum alike: piecewise constant at
    learning_rate x [1, 0.1, 0.01, 0.001, ...], e.g. the original ResNet boundaries scaled to a
    shorter run.
    """
    if boundaries:
      return keras.optimizers.schedules.PiecewiseConstantDecay(
          [int(b) for b in boundaries],
          [learning_rate * 0.1**i for i in range(len(boundaries) + 1)])
    if with_mentornet and self.mentornet_piecewise_lr:
      return keras.optimizers.schedules.PiecewiseConstantDecay(
          list(RESNET_MENTORNET_BOUNDARIES),
          [learning_rate * m for m in RESNET_MENTORNET_MULTIPLIERS])
    decay_steps = max(1, int(num_examples / batch_size * num_epochs_per_decay))
    return keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps, decay_factor, staircase=True)

  def make_optimizer(self, schedule):
    if self.momentum:
      return TF1Momentum(learning_rate=schedule, momentum=self.momentum)
    return keras.optimizers.SGD(learning_rate=schedule)


STUDENTNETS = {
    "resnet101": StudentNetSpec("resnet101", build_resnet, train_crop_padding=2, momentum=0.9,
                                mentornet_piecewise_lr=True),
    "inception": StudentNetSpec("inception", build_cifarnet, train_crop_padding=8, momentum=0.0,
                                mentornet_piecewise_lr=False),
}


def get_studentnet_spec(name):
  if name not in STUDENTNETS:
    raise UsageError(f"unknown --studentnet={name!r}; choose one of {', '.join(STUDENTNETS)}")
  return STUDENTNETS[name]


def build_studentnet(name, num_classes, config=StudentNetConfig()):
  """Builds the named StudentNet (a built `keras.Model` mapping images to logits)."""
  return get_studentnet_spec(name).build(num_classes, config)


def parse_widths(text):
  """Parses `--resnet_widths` ('16,160,320,640') into a tuple of 4 positive non-decreasing ints."""
  try:
    widths = tuple(int(w) for w in str(text).replace(" ", "").split(",") if w)
  except ValueError:
    raise UsageError(f"--resnet_widths={text!r} is not a comma-separated list of integers")
  if len(widths) != 4:
    raise UsageError(f"--resnet_widths={text!r} needs exactly 4 widths (stem and 3 stages)")
  if min(widths) < 1 or list(widths) != sorted(widths):
    raise UsageError(f"--resnet_widths={text!r} must be positive and non-decreasing")
  return widths


def count_parameters(model):
  return int(sum(np.prod(v.shape) for v in model.trainable_weights))
