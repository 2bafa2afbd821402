"""One precision per run (issue 18): float32 logits under every policy; the recorded policy is
used by the eval job, the trust report, the StudentNet dump and resume; a mixed_float16 run
whose steps are all skipped stops."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_tiny_noisy_cifar
from mentornet.analysis import evaluation
from mentornet.analysis import trust_report
from mentornet.config import train_config
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import factory as curriculum_factory
from mentornet.data import pipeline as data_lib
from mentornet.errors import NonFiniteLossError
from mentornet.learning import studentnet_dump
from mentornet.models import studentnets
from mentornet.training import callbacks as callbacks_lib
from mentornet.training import checkpoints
from mentornet.training import loop as training_loop
from mentornet.training import precision
from mentornet.training import trainer as trainer_lib

TINY = dict(num_residual_units=1, resnet_widths=(8, 8, 16, 16))


def _baseline(**unused):
  return curriculum_lib.NoCurriculum(name="curriculum")


# ---------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("studentnet", ["resnet101", "inception"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_logits_are_float32_under_mixed_policies_and_checkpoints_fit(studentnet, policy,
                                                                      tmp_path):
  config = studentnets.StudentNetConfig(sync_batch_norm=False, **TINY)
  float32_student = studentnets.build_studentnet(studentnet, 10, config)
  path = tf.train.Checkpoint(student=float32_student).save(str(tmp_path / "ckpt"))
  keras.mixed_precision.set_global_policy(policy)
  student = studentnets.build_studentnet(studentnet, 10, config)
  assert student.get_layer("logits").dtype_policy.name == "float32"
  assert student.layers[1].compute_dtype != "float32"  # The body stays mixed.
  logits = student(np.ones([2, 32, 32, 3], np.float32), training=False)
  assert logits.dtype == tf.float32
  # Same variables (names, shapes, dtypes) as under float32: checkpoints restore both ways.
  assert [(v.path, v.shape, v.dtype) for v in student.weights] == [
      (v.path, v.shape, v.dtype) for v in float32_student.weights]
  tf.train.Checkpoint(student=student).restore(path).assert_consumed()
