"""FusedBatchNormalization: the Keras layer's results, variables and checkpoints, fused."""
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import subprocess_env
from mentornet.models import studentnets
from mentornet.models.batch_norm import FusedBatchNormalization

SHAPE = (8, 5, 5, 6)  # [batch, height, width, channels]


def _pair(dtype=None, **kwargs):
  """(Keras layer, fused layer), built on SHAPE with the same non-trivial weights."""
  rng = np.random.default_rng(1)
  values = [rng.uniform(0.5, 1.5, SHAPE[-1]), rng.normal(size=SHAPE[-1]),
            rng.normal(size=SHAPE[-1]), rng.uniform(0.5, 2.0, SHAPE[-1])]
  layers = []
  for cls in (keras.layers.BatchNormalization, FusedBatchNormalization):
    layer = cls(momentum=0.9, epsilon=0.001, name="bn", dtype=dtype, **kwargs)
    layer.build(SHAPE)
    for variable, value in zip(layer.weights, values):
      variable.assign(value.astype(np.float32))
    layers.append(layer)
  return layers


def _inputs(dtype=tf.float32):
  rng = np.random.default_rng(2)
  return tf.cast(tf.constant(rng.normal(1.0, 3.0, SHAPE), tf.float32), dtype)


def _train_step(layer, jit_compile):
  """tf.function: x -> (training-mode output, d(sum(output * w))/d[x, gamma, beta])."""
  weights = tf.constant(np.random.default_rng(3).normal(size=SHAPE), tf.float32)

  @tf.function(jit_compile=jit_compile)
  def step(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=True)
      loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    return [y] + tape.gradient(loss, [x, layer.gamma, layer.beta])

  return step


def _op_types(step, x):
  return {op.type for op in step.get_concrete_function(x).graph.get_operations()}


def _assert_close(actual, expected, rtol):
  """Equal up to `rtol` of the largest magnitude of `expected`."""
  actual, expected = (np.asarray(tf.cast(t, tf.float32)) for t in (actual, expected))
  np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * np.max(np.abs(expected)))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_training_step_matches_keras(jit_compile):
  plain, fused = _pair()
  x = _inputs()
  initial_variance = plain.moving_variance.numpy()
  plain_step, fused_step = _train_step(plain, jit_compile), _train_step(fused, jit_compile)
  for _ in range(2):  # The second step starts from the updated moving statistics.
    expected, actual = plain_step(x), fused_step(x)
    for name, a, e in zip(("output", "d/dx", "d/dgamma", "d/dbeta"), actual, expected):
      assert a.dtype == e.dtype, name
      _assert_close(a, e, 1e-5)
    # Keras's moving variance averages the biased batch variance (the fused op's is unbiased).
    _assert_close(fused.moving_mean, plain.moving_mean, 1e-5)
    _assert_close(fused.moving_variance, plain.moving_variance, 1e-5)
  assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= _op_types(fused_step, x)
  assert "FusedBatchNormV3" not in _op_types(plain_step, x)
  # Two steps on x: 0.81 * initial + 0.19 * the biased variance (sum of squares / 200; the
  # unbiased one, / 199, would be 0.1% off).
  biased = np.var(x.numpy().astype(np.float64), axis=(0, 1, 2))
  _assert_close(fused.moving_variance, 0.81 * initial_variance + 0.19 * biased, 1e-6)


def test_inference_and_frozen_layer_match_keras():
  plain, fused = _pair()
  x = _inputs()
  np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))
  np.testing.assert_array_equal(fused(x), plain(x))
  for layer in (plain, fused):
    layer.trainable = False  # Keras: a frozen BN normalizes with its moving statistics.
  np.testing.assert_array_equal(fused(x, training=True), plain(x, training=True))
  np.testing.assert_array_equal(fused.moving_mean, plain.moving_mean)


def test_same_variables_and_config():
  plain, fused = _pair()
  assert [v.path for v in fused.weights] == [v.path for v in plain.weights] == [
      "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
  assert [v.trainable for v in fused.weights] == [v.trainable for v in plain.weights]
  assert fused.get_config() == plain.get_config()
  restored = keras.layers.deserialize(keras.layers.serialize(fused))
  assert type(restored) is FusedBatchNormalization


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_policy(policy):
  plain, fused = _pair(dtype=policy)
  x = _inputs(fused.compute_dtype)
  expected = _train_step(plain, False)(x)
  actual = _train_step(fused, False)(x)
  assert actual[0].dtype == expected[0].dtype == fused.compute_dtype
  assert actual[1].dtype == x.dtype
  assert fused.gamma.dtype == fused.moving_mean.dtype == "float32"
  for a, e in zip(actual, expected):
    _assert_close(a, e, 2e-2)  # one bf16 rounding of the output and of d/dx
  _assert_close(fused.moving_mean, plain.moving_mean, 1e-5)
  _assert_close(fused.moving_variance, plain.moving_variance, 1e-5)
  jitted = _train_step(fused, True)(x)  # XLA takes the half-precision fused op too.
  assert jitted[0].dtype == fused.compute_dtype


def _resnet(fused_batch_norm, seed):
  keras.utils.set_random_seed(seed)
  config = studentnets.StudentNetConfig(1, (4, 4, 8, 8), sync_batch_norm=False,
                                        fused_batch_norm=fused_batch_norm)
  return studentnets.build_studentnet("resnet101", 10, config)


def test_config_picks_the_layer_and_checkpoints_interchange(tmp_path):
  plain, fused = _resnet(False, seed=1), _resnet(True, seed=2)
  plain_bns = [l for l in plain.layers if isinstance(l, keras.layers.BatchNormalization)]
  fused_bns = [l for l in fused.layers if isinstance(l, keras.layers.BatchNormalization)]
  assert len(plain_bns) == len(fused_bns) == 7  # 2 in each of the 3 units, and final_bn
  assert not any(isinstance(l, FusedBatchNormalization) for l in plain_bns)
  assert all(isinstance(l, FusedBatchNormalization) for l in fused_bns)
  assert [v.path for v in fused.weights] == [v.path for v in plain.weights]
  images = tf.constant(np.random.default_rng(4).normal(size=(4, 32, 32, 3)), tf.float32)
  plain(images, training=True)  # Moving statistics away from their initial values.
  path = tf.train.Checkpoint(student=plain).write(str(tmp_path / "plain"))
  tf.train.Checkpoint(student=fused).read(path).assert_consumed()
  for restored, written in zip(fused.weights, plain.weights):
    np.testing.assert_array_equal(restored.numpy(), written.numpy())
  np.testing.assert_array_equal(fused(images, training=False), plain(images, training=False))
  _assert_close(fused(images, training=True), plain(images, training=True), 1e-5)


SYNC_SCRIPT = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras
    from mentornet.models.batch_norm import FusedBatchNormalization

    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    # Replica 0 sees mean 0, replica 1 mean 4: the global batch mean is 2.
    halves = [tf.fill([2, 3, 3, 4], 0.0) + tf.range(4.0), tf.fill([2, 3, 3, 4], 4.0)]
    data = strategy.experimental_distribute_values_from_function(
        lambda context: halves[context.replica_id_in_sync_group])
    for cls in (keras.layers.BatchNormalization, FusedBatchNormalization):
      with strategy.scope():
        layer = cls(momentum=0.0, synchronized=True)
        layer.build((None, 3, 3, 4))
      strategy.run(tf.function(lambda x: layer(x, training=True)), (data,))
      print(cls.__name__, np.round(layer.moving_mean.numpy(), 4).tolist())
""")


def test_synchronized_batch_norm_over_replicas_falls_back_to_keras():
  """Over 2 replicas a synchronized fused layer takes Keras's cross-replica moments."""
  result = subprocess.run([sys.executable, "-c", SYNC_SCRIPT], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.split("\n")
  plain = next(l for l in lines if l.startswith("BatchNormalization "))
  fused = next(l for l in lines if l.startswith("FusedBatchNormalization "))
  assert plain.split(" ", 1)[1] == fused.split(" ", 1)[1] == "[2.0, 2.5, 3.0, 3.5]"
