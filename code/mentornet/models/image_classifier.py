"""A small image classifier made of Keras's own layers, with its preprocessing inside.

`build_image_classifier` makes the reduced regime's StudentNet (the pre-activation ResNet of
`studentnets.build_resnet`: leaky ReLU 0.1, L2 decay 0.0002, widths 16,16,32,64 and one unit a
stage: ResNet-8) for any square image size, taking pixel values 0..255 as the files decode
(uint8 or float, RGB) and holding its preprocessing: rescaling to [0, 1], per-channel
normalization by the training images' mean and variance, and left-right flips in training.
Only built-in layers (the shortcut's channel zero-padding is a frozen 1x1 convolution), so the
saved `.keras` file loads with `keras.saving.load_model` anywhere. `fused_batch_norm=True`
trains with `batch_norm.FusedBatchNormalization` (faster, the same weights);
`copy_to_plain_layers` gives the twin to save.
"""
import math

import keras
import numpy as np

from mentornet.models.batch_norm import FusedBatchNormalization

DEFAULT_WIDTHS = (16, 16, 32, 64)
WEIGHT_DECAY = 0.0002


def _channel_pad_kernel(in_filters, out_filters):
  """float32 [1, 1, in, out]: input channel c -> output channel c + (out - in) // 2."""
  kernel = np.zeros([1, 1, in_filters, out_filters], np.float32)
  pad = (out_filters - in_filters) // 2
  kernel[0, 0, np.arange(in_filters), pad + np.arange(in_filters)] = 1.0
  return kernel


def build_image_classifier(num_classes, image_size=32, widths=DEFAULT_WIDTHS, units=1,
                           mean=(0.5, 0.5, 0.5), variance=(0.25, 0.25, 0.25), flip=True,
                           fused_batch_norm=True, weight_decay=WEIGHT_DECAY):
  """Pixels [batch, image_size, image_size, 3] in 0..255 -> logits [batch, num_classes].

  Args:
    num_classes: output classes.
    image_size: height and width of the input images.
    widths: filters of the stem and the 3 stages (each change even).
    units: residual units a stage.
    mean, variance: per-channel statistics of the images scaled to [0, 1] (normalization).
    flip: random left-right flips in training.
    fused_batch_norm: train batch norm with the fused kernel (a custom layer: save the twin
      from `copy_to_plain_layers`).
    weight_decay: L2 rate of the convolution and dense kernels (as TF1's l2_loss).
  """
  regularizer = keras.regularizers.L2(weight_decay / 2.0)
  norm_class = FusedBatchNormalization if fused_batch_norm else keras.layers.BatchNormalization
  pads = []

  def batch_norm(x, name):
    return norm_class(momentum=0.9, epsilon=0.001, name=name)(x)

  def relu(x, name):
    return keras.layers.LeakyReLU(negative_slope=0.1, name=name)(x)

  def conv(x, filters, stride, name):
    return keras.layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=math.sqrt(2.0 / (9 * filters))),
        kernel_regularizer=regularizer, name=name)(x)

  def unit(x, in_filters, out_filters, stride, activate_before_residual, name):
    if activate_before_residual:
      x = batch_norm(relu(x, f"{name}_shared_relu"), f"{name}_shared_bn")
      shortcut = x
    else:
      shortcut = x
      x = relu(batch_norm(x, f"{name}_bn1"), f"{name}_relu1")
    x = conv(x, out_filters, stride, f"{name}_conv1")
    x = relu(batch_norm(x, f"{name}_bn2"), f"{name}_relu2")
    x = conv(x, out_filters, 1, f"{name}_conv2")
    if stride != 1:
      shortcut = keras.layers.AveragePooling2D(stride, stride, name=f"{name}_pool")(shortcut)
    if in_filters != out_filters:
      layer = keras.layers.Conv2D(out_filters, 1, use_bias=False, trainable=False,
                                  name=f"{name}_shortcut_pad")
      shortcut = layer(shortcut)
      pads.append((layer, _channel_pad_kernel(in_filters, out_filters)))
    return keras.layers.Add(name=f"{name}_add")([x, shortcut])

  images = keras.Input((image_size, image_size, 3), name="image")
  x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(images)
  x = keras.layers.Normalization(mean=list(mean), variance=list(variance), name="normalize")(x)
  if flip:
    x = keras.layers.RandomFlip("horizontal", name="flip")(x)
  x = conv(x, widths[0], 1, "init_conv")
  for stage, stride in enumerate((1, 2, 2)):
    for i in range(units):
      x = unit(x, widths[stage] if i == 0 else widths[stage + 1], widths[stage + 1],
               stride if i == 0 else 1, stage == 0 and i == 0, f"unit_{stage + 1}_{i}")
  x = relu(batch_norm(x, "final_bn"), "final_relu")
  x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
  logits = keras.layers.Dense(
      num_classes, kernel_initializer=keras.initializers.VarianceScaling(
          1.0, mode="fan_in", distribution="uniform"),
      kernel_regularizer=regularizer, name="logits")(x)
  model = keras.Model(images, logits, name=f"resnet_{6 * units + 2}_image_classifier")
  for layer, kernel in pads:
    layer.kernel.assign(kernel)
  return model


def copy_to_plain_layers(model, **build_kwargs):
  """The twin of `model` (built with `build_kwargs`) with Keras's batch norm, same weights."""
  plain = build_image_classifier(**dict(build_kwargs, fused_batch_norm=False))
  plain.set_weights(model.get_weights())
  return plain
