"""Issue 12: where the port matched the original's arithmetic, pinned by tests that can fail."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from mentornet.curricula import base as curriculum
from mentornet.learning import studentnet_dump
from mentornet.models import studentnets


def test_training_epoch_is_the_originals_float64_division_at_every_step():
  steps = np.arange(39001)
  # TF1's tf.divide(int64 global_step, int) divides in float64, as NumPy does here.
  expected = np.minimum(np.floor(steps / 39000 * 100), 99).astype(np.int32)
  eager = curriculum.training_epoch(tf.constant(steps, tf.int64), 39000).numpy()
  compiled = tf.function(curriculum.training_epoch, jit_compile=True)(
      tf.constant(steps, tf.int64), tf.constant(39000, tf.int64)).numpy()
  np.testing.assert_array_equal(eager, expected)
  np.testing.assert_array_equal(compiled, expected)
  # float32 (the port before) and exact integers both differ from the original at some steps.
  float32 = np.floor(steps.astype(np.float32) / np.float32(39000) * np.float32(100))
  assert list(steps[np.minimum(float32, 99) != expected]) == [11310, 20670, 22230, 22620, 23010]
  assert list(steps[np.minimum((steps * 100) // 39000, 99) != expected]) == [11310, 22230, 22620]
  # The StudentNet dump dates its checkpoints with the same function.
  assert [studentnet_dump.checkpoint_epoch(s, 39000) for s in (11310, 11311, 39000)] == [
      28, 29, 99]


def _momentum_reference(w, gradient_of, lrs, momentum, form):
  """NumPy: TF1 `acc = m*acc + g; w -= lr*acc` or Keras `v = m*v - lr*g; w += v`."""
  w = np.array(w, np.float64)
  slot = np.zeros_like(w)
  for lr in lrs:
    g = gradient_of(w)
    if form == "tf1":
      slot = momentum * slot + g
      w = w - lr * slot
    else:
      slot = momentum * slot - lr * g
      w = w + slot
  return w


def _run_optimizer(optimizer, w0, gradient_of, steps, loss_scale=None):
  w = keras.Variable(np.array(w0, np.float32))
  optimizer.build([w])
  for _ in range(steps):
    g = tf.constant(gradient_of(w.numpy()), tf.float32)
    if loss_scale is not None:
      g = optimizer.scale_loss(g)  # the gradient of a scaled loss
    optimizer.apply([g], [w])
  return w.numpy()


@pytest.mark.parametrize("use_loss_scale", [False, True])
def test_tf1_momentum_matches_numpy_across_a_learning_rate_drop(use_loss_scale):
  w0 = [1.0, -2.0, 0.5]
  gradient_of = lambda w: np.array([2.0, 0.5, 1.0]) * np.asarray(w) + 0.3  # a quadratic
  schedule = keras.optimizers.schedules.PiecewiseConstantDecay([4], [0.1, 0.01])
  # The rate of step i is the schedule at i (before the update); i <= 4 is before the drop,
  # as in TF1's piecewise_constant.
  lrs = [0.1] * 5 + [0.01] * 3
  optimizer = studentnets.STUDENTNETS["resnet101"].make_optimizer(schedule)
  assert isinstance(optimizer, studentnets.TF1Momentum) and optimizer.momentum == 0.9
  if use_loss_scale:  # What mixed_float16 wraps the optimizer in.
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**10)
  got = _run_optimizer(optimizer, w0, gradient_of, 8, loss_scale=use_loss_scale or None)
  np.testing.assert_allclose(got, _momentum_reference(w0, gradient_of, lrs, 0.9, "tf1"),
                             rtol=1e-5)
  keras_form = _momentum_reference(w0, gradient_of, lrs, 0.9, "keras")
  assert np.max(np.abs(got - keras_form)) > 1e-2  # the drop makes the two forms differ


def test_tf1_momentum_equals_keras_sgd_at_a_constant_rate_and_inception_is_plain_sgd():
  gradient_of = lambda w: 0.7 * np.asarray(w)
  tf1 = _run_optimizer(studentnets.TF1Momentum(0.05, momentum=0.9), [1.0, 2.0], gradient_of, 6)
  sgd = _run_optimizer(keras.optimizers.SGD(0.05, momentum=0.9), [1.0, 2.0], gradient_of, 6)
  np.testing.assert_allclose(tf1, sgd, rtol=1e-5)
  plain = studentnets.STUDENTNETS["inception"].make_optimizer(0.1)
  assert type(plain) is keras.optimizers.SGD and plain.momentum == 0.0
  restored = studentnets.TF1Momentum.from_config(studentnets.TF1Momentum(0.1, 0.9).get_config())
  assert isinstance(restored, studentnets.TF1Momentum) and restored.momentum == 0.9


class _Recorder(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.logs = []

  def on_train_batch_end(self, batch, logs=None):
    self.logs.append({k: float(np.asarray(v).reshape(-1)[0]) for k, v in logs.items()})


def test_summaries_cumulative_data_util_rate_of_the_step_and_plain_total_loss(tmp_path):
  from mentornet.training import callbacks as training_callbacks
  from mentornet.training import trainer as trainer_lib
  batch = 10
  rng = np.random.default_rng(0)
  images = rng.normal(size=(batch, 4, 4, 3)).astype(np.float32)
  labels = rng.integers(0, 3, size=batch).astype(np.int32)
  student = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
  # v = 0.9 for every example; half of them dropped in the first half of training.
  mentornet = lambda features: tf.fill([tf.shape(features)[0], 1], 0.9)
  rates = np.float32([0.5] * 50 + [0.0] * 50)
  curriculum_ = curriculum.MentorNetCurriculum(mentornet, example_dropout_rates=rates)
  model = trainer_lib.StudentTrainer(student, curriculum_, max_steps=4)
  schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
  model.compile(optimizer=keras.optimizers.SGD(schedule))
  dataset = tf.data.Dataset.from_tensors(({"image": images}, labels)).repeat()
  recorder = _Recorder()
  summaries = training_callbacks.ScalarSummaries(str(tmp_path), interval_secs=0)
  model.fit(dataset, epochs=2, steps_per_epoch=2, verbose=0, shuffle=False,
            callbacks=[recorder, summaries])
  # Steps 0, 1 keep 5 of 10 examples, steps 2, 3 all 10: cumulative over both epochs.
  np.testing.assert_allclose([r["data_util"] for r in recorder.logs],
                             [5 / 10, 10 / 20, 20 / 30, 30 / 40], rtol=1e-6)
  # The rate each step used: steps 0 and 1 at 0.1, then 0.01 (TF1 piecewise: step <= 1).
  np.testing.assert_allclose([r["learning_rate"] for r in recorder.logs],
                             [0.1, 0.1, 0.01, 0.01], rtol=1e-6)
  written = {}
  for path in tmp_path.glob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        written.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
  assert written["total_loss"] == written["mentornet/total_loss"]
  assert sorted(written["total_loss"]) == [1, 2, 3, 4]
  np.testing.assert_allclose(written["data_util/data_util"][4], 0.75, rtol=1e-6)


# ------------------------------------------------------------------------- wide ResNet


def _leaky(x):
  return np.where(x > 0, x, 0.1 * x)


def _bn(x, layer):
  gamma, beta, mean, var = (w.numpy().astype(np.float64) for w in layer.weights)
  return (x - mean) / np.sqrt(var + 0.001) * gamma + beta


def _conv_same(x, kernel, stride):
  """NumPy 3x3 convolution with TF's SAME padding; x [n, h, w, c], kernel [3, 3, c, out]."""
  n, h, w, _ = x.shape
  out_h, out_w = -(-h // stride), -(-w // stride)
  pad_h = max((out_h - 1) * stride + 3 - h, 0)
  pad_w = max((out_w - 1) * stride + 3 - w, 0)
  x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2),
                 (0, 0)))
  out = np.zeros((n, out_h, out_w, kernel.shape[-1]))
  for i in range(3):
    for j in range(3):
      patch = x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
      out += patch @ kernel[i, j]
  return out


def _pad_channels(x, out_channels):
  pad = (out_channels - x.shape[-1]) // 2
  return np.pad(x, ((0, 0), (0, 0), (0, 0), (pad, pad)))


def test_wide_resnet_units_match_a_numpy_forward_and_the_original_hyperparameters():
  widths = (4, 6, 8, 12)
  model = studentnets.build_studentnet(
      "resnet101", 10, studentnets.StudentNetConfig(1, widths, sync_batch_norm=False))
  rng = np.random.default_rng(0)
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      assert (layer.momentum, layer.epsilon) == (0.9, 0.001), layer.name
      gamma, beta, mean, var = layer.weights
      for variable, low, high in ((gamma, 0.5, 1.5), (beta, -0.5, 0.5), (mean, -0.5, 0.5),
                                  (var, 0.5, 2.0)):
        variable.assign(rng.uniform(low, high, variable.shape).astype(np.float32))
    if isinstance(layer, keras.layers.Conv2D):
      initializer = layer.kernel_initializer
      assert isinstance(initializer, keras.initializers.RandomNormal), layer.name
      np.testing.assert_allclose(initializer.stddev, np.sqrt(2.0 / (3 * 3 * layer.filters)))
      assert layer.kernel_size == (3, 3) and not layer.use_bias
  def unit(name, x, in_filters, out_filters, stride, activate_before_residual):
    layer = lambda suffix: model.get_layer(f"{name}_{suffix}")
    if activate_before_residual:  # leaky ReLU, then BN, before the split
      x = _bn(_leaky(x), layer("shared_bn"))
      shortcut = x
    else:
      shortcut = x
      x = _leaky(_bn(x, layer("bn1")))
    x = _conv_same(x, layer("conv1").kernel.numpy(), stride)
    x = _conv_same(_leaky(_bn(x, layer("bn2"))), layer("conv2").kernel.numpy(), 1)
    if stride > 1:  # average pool, stride 2, valid
      n, h, w, c = shortcut.shape
      shortcut = shortcut.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    return x + _pad_channels(shortcut, out_filters) if in_filters != out_filters else x + shortcut

  for name, in_filters, out_filters, stride, first in (("unit_1_0", 4, 6, 1, True),
                                                       ("unit_2_0", 6, 8, 2, False)):
    inputs = rng.normal(size=(2, 32, 32, in_filters))  # the sub-model keeps 32 x 32
    start = model.get_layer(f"{name}_shared_relu" if first else f"{name}_bn1")
    sub = keras.Model(start.input, model.get_layer(f"{name}_add").output)
    got = np.asarray(sub(inputs.astype(np.float32), training=False), np.float64)
    want = unit(name, inputs, in_filters, out_filters, stride, first)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


# ---------------------------------------------------------------------- augmentation


def _standardized(image):
  x = np.asarray(image, np.float64)
  return (x - x.mean()) / max(x.std(), 1.0 / np.sqrt(x.size))


@pytest.mark.parametrize("studentnet,padding", [("resnet101", 2), ("inception", 8)])
def test_augmentation_pads_crops_and_flips_a_known_image(studentnet, padding):
  from mentornet.data import pipeline as data
  assert studentnets.STUDENTNETS[studentnet].train_crop_padding == padding  # 36x36 / 48x48
  image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
  windows = {(dy, dx, flip): padded[dy:dy + 32, dx:dx + 32][:, ::-1 if flip else 1]
             for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
             for flip in (False, True)}
  seen = []
  for seed in range(60):
    out = data._augment(tf.constant(image), padding, tf.constant([seed, 3], tf.int32)).numpy()
    again = data._augment(tf.constant(image), padding, tf.constant([seed, 3], tf.int32)).numpy()
    np.testing.assert_array_equal(out, again)  # a fixed seed gives the same crop and flip
    [match] = [key for key, window in windows.items() if np.array_equal(out, window)]
    seen.append(match)
  assert {m[0] for m in seen} == set(range(2 * padding + 1)) or padding == 8
  assert {m[2] for m in seen} == {False, True}
  assert max(m[0] for m in seen) > padding and min(m[1] for m in seen) < padding
  np.testing.assert_allclose(data._standardize(tf.constant(image)).numpy(),
                             _standardized(image), rtol=1e-5, atol=1e-5)


def test_test_path_is_standardization_only(tmp_path):
  from mentornet.data import pipeline as data
  from mentornet.data import records
  rng = np.random.default_rng(2)
  images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  images[4] = 7  # a flat image: standardized with the 1/sqrt(N) floor, to zeros
  records.write_shards(str(tmp_path), "cifar10", "test", {"image": images,
                                                          "label": np.arange(5)}, num_shards=2)
  split = data.describe_split(str(tmp_path), "cifar10", "test")
  batches = list(data.make_dataset(split, "cifar10", 2, training=False))
  got = np.concatenate([features["image"].numpy() for features, _ in batches])
  labels = np.concatenate([label.numpy() for _, label in batches])
  assert sorted(labels) == list(range(5))  # every image once (shards interleaved)
  np.testing.assert_allclose(got, [_standardized(images[i]) for i in labels], rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(got[list(labels).index(4)], 0.0)


@pytest.mark.parametrize("augmentation", ["crop_flip", "flip", "none"])
def test_training_path_augmentations(tmp_path, augmentation):
  """--augmentation=none (reduced regimes) shuffles and repeats the images unchanged; flip
  only mirrors them."""
  from mentornet.data import pipeline as data
  from mentornet.data import records
  images = np.random.default_rng(3).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
  records.write_shards(str(tmp_path), "cifar10", "train", {
      "image": images, "label": np.arange(6), "id": np.arange(6)}, num_shards=2)
  split = data.describe_split(str(tmp_path), "cifar10", "train")
  dataset = data.make_dataset(split, "cifar10", 6, training=True, augmentation=augmentation)
  kinds = []
  for features, _ in dataset.take(4):
    ids = features["id"].numpy()
    assert sorted(ids) == list(range(6))  # each pass: every image once, shuffled
    for k, i in enumerate(ids):
      got = features["image"][k].numpy()
      kinds.append("same" if np.allclose(got, _standardized(images[i]), atol=1e-5) else
                   "mirror" if np.allclose(got, _standardized(images[i][:, ::-1]), atol=1e-5)
                   else "other")
  assert set(kinds) == {"none": {"same"}, "flip": {"same", "mirror"},
                        "crop_flip": set(kinds) | {"other"}}[augmentation]
  assert augmentation != "crop_flip" or kinds.count("other") > len(kinds) // 2
  with pytest.raises(ValueError, match="augmentation must be one of"):
    data.make_dataset(split, "cifar10", 6, training=True, augmentation="crop")


# ------------------------------------------------------------------ learning rates


@pytest.mark.parametrize("studentnet,curriculum_name,kind", [
    ("resnet101", "mentornet", "piecewise"), ("resnet101", "baseline", "exponential"),
    ("inception", "mentornet", "exponential"), ("inception", "baseline", "exponential")])
def test_learning_rate_schedule_per_studentnet_and_curriculum(studentnet, curriculum_name, kind):
  from mentornet.config import train_config
  from mentornet.training import loop as training_loop
  config = train_config.TrainConfig(
      train_log_dir="unused", data_dir="unused", studentnet=studentnet,
      curriculum=curriculum_name, batch_size=128, num_epochs_per_decay=200,
      num_residual_units=1, resnet_widths=(4, 4, 8, 8))
  model = training_loop.build_trainer(
      config, tf.distribute.get_strategy(), 10, 50000,
      lambda **_: curriculum.NoCurriculum(name="curriculum"))
  schedule = model.optimizer._learning_rate
  rate = lambda step: float(schedule(step))
  if kind == "piecewise":  # x0.1 after steps 19531, 25000, 30000 of 39000
    got = [rate(s) for s in (0, 19531, 19532, 25000, 25001, 30000, 30001)]
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0001], rtol=1e-6)
  else:  # x0.1 every num_epochs_per_decay epochs: int(50000 / 128 * 200) = 78125 steps
    got = [rate(s) for s in (0, 78124, 78125, 156250)]
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.001], rtol=1e-6)
