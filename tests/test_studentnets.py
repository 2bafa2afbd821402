"""StudentNet registry: shapes, sizes, weight decay and bad sizes."""
import keras
import numpy as np
import pytest

from mentornet.errors import UsageError
from mentornet.models import studentnets

IMAGES = np.zeros((2, 32, 32, 3), np.float32)


@pytest.mark.parametrize("units,widths,num_classes", [
    (1, (16, 16, 32, 64), 10), (2, (8, 16, 32, 64), 100), (1, (16, 32, 64, 128), 10)])
def test_resnet_shapes_and_decay_terms(units, widths, num_classes):
  model = studentnets.build_studentnet(
      "resnet101", num_classes, studentnets.StudentNetConfig(units, widths, False))
  assert model(IMAGES, training=False).shape == (2, num_classes)
  # One L2 term per conv kernel (stem + 2 per unit) and the dense kernel.
  assert len(model.losses) == 1 + 2 * 3 * units + 1
  assert model.name == f"resnet_{6 * units + 2}_{'_'.join(map(str, widths))}"


def test_default_resnet_is_the_original_wrn_56_10():
  model = studentnets.build_studentnet("resnet101", 10)
  assert model.name == "resnet_56_16_160_320_640"
  assert studentnets.count_parameters(model) == 84_627_034


def test_cifarnet_shapes_decay_and_dropout_in_training_only():
  model = studentnets.build_studentnet("inception", 100)
  assert model(IMAGES).shape == (2, 100)
  assert not model.losses  # The original never added its declared fc weight decay.
  decayed = studentnets.build_studentnet(
      "inception", 10, studentnets.StudentNetConfig(cifarnet_fc_weight_decay=0.004))
  assert [v.path.split("/")[0] for v in decayed.trainable_weights if v.ndim == 2] == [
      "fc3", "fc4", "logits"]
  assert len(decayed.losses) == 2  # fc3 and fc4 kernels, 0.004 * l2_loss each:
  kernel = decayed.get_layer("fc3").kernel.numpy()
  np.testing.assert_allclose(float(decayed.losses[0]), 0.004 * 0.5 * np.sum(kernel**2),
                             rtol=1e-5)
  images = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype(np.float32)
  np.testing.assert_array_equal(model(images, training=False), model(images, training=False))
  # In training, dropout zeroes about 20% of fc3's units and scales the rest by 1 / 0.8.
  probe = keras.Model(model.input, [model.get_layer("fc3").output,
                                     model.get_layer("dropout3").output])
  before, after = (np.asarray(t) for t in probe(images, training=True))
  active = before > 0
  dropped = active & (after == 0)
  np.testing.assert_allclose(after[active & ~dropped], before[active & ~dropped] / 0.8, rtol=1e-6)
  assert 0.15 < dropped.sum() / active.sum() < 0.25
  assert not np.array_equal(model(images, training=True), model(images, training=False))


@pytest.mark.parametrize("name,widths,units,fragment", [
    ("vgg", (16, 16, 32, 64), 1, "unknown --studentnet='vgg'"),
    ("resnet101", (16, 16, 32, 63), 1, "must be even"),
    ("resnet101", (16, 16, 32, 64), 0, "--num_residual_units must be >= 1"),
])
def test_bad_sizes(name, widths, units, fragment):
  with pytest.raises(UsageError) as info:
    studentnets.build_studentnet(name, 10, studentnets.StudentNetConfig(units, widths, False))
  assert fragment in str(info.value)


def test_parse_widths():
  assert studentnets.parse_widths("16, 160,320,640") == (16, 160, 320, 640)
  for bad in ("16,32", "a,b,c,d", "16,160,80,640", "0,16,32,64"):
    with pytest.raises(UsageError):
      studentnets.parse_widths(bad)


@pytest.mark.parametrize("name", sorted(studentnets.STUDENTNETS))
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_every_studentnet_trains_under_mixed_precision(name, policy):
  """Forward and backward on the CPU under each mixed policy (--mixed_precision=auto picks
  bf16 on CPUs with bf16 instructions): every op has a kernel (cifarnet's LRN runs in float32)
  and the float32 results are matched to the policy's rounding."""
  import tensorflow as tf
  spec = studentnets.get_studentnet_spec(name)
  config = studentnets.StudentNetConfig(1, (4, 4, 8, 8), False)
  images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
  outputs = {}
  for dtype in ("float32", policy):
    keras.mixed_precision.set_global_policy(dtype)
    try:
      keras.utils.set_random_seed(1)
      model = studentnets.build_studentnet(name, 10, config)
      with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_sum(tf.cast(logits, tf.float32) ** 2)
      gradients = tape.gradient(loss, model.trainable_variables)
    finally:
      keras.mixed_precision.set_global_policy("float32")
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in gradients)
    outputs[dtype] = tf.cast(model(images, training=False), tf.float32).numpy()
  assert spec.name == name
  np.testing.assert_allclose(outputs[policy], outputs["float32"], rtol=0.1, atol=0.05)
