"""StudentNet registry: shapes, sizes, weight decay and bad sizes."""
import numpy as np
import pytest

from mentornet import studentnets
from mentornet.errors import UsageError

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


def test_cifarnet_shapes_and_dropout_only_in_training():
  model = studentnets.build_studentnet("inception", 100)
  assert model(IMAGES).shape == (2, 100)
  assert len(model.losses) == 2  # fc3 and fc4 kernels
  images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
  np.testing.assert_array_equal(model(images, training=False), model(images, training=False))


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
