"""Acceptance checks of learned MentorNets (used by the tests and the models' README).

`mentornet` is any callable features float32 [n, 4] -> v [n, 1] (a loaded SavedModel).
"""
import numpy as np

from mentornet.learning import generator
from mentornet.learning import vstar as vstar_lib

# A predefined MentorNet passes when, on a fresh sample of the input grid, v thresholded at 0.5
# agrees with v* on >= 97% of the points where v* is 0/1, and the MSE elsewhere is <= 0.01.
MIN_AGREEMENT = 0.97
MAX_MSE = 0.01
FRESH_SAMPLE_SEED = 20180710  # Not a seed any shipped data set was drawn with.


def mentornet_v(mentornet, features, batch_size=65536):
  """float64 [n]: the MentorNet's v for features [n, 4]."""
  features = np.asarray(features, np.float32)
  return np.concatenate([np.asarray(mentornet(features[i:i + batch_size])).reshape(-1)
                         for i in range(0, features.shape[0], batch_size)]).astype(np.float64)


def check_against_vstar(mentornet, vstar_name, gamma=None, num_points=100000,
                        seed=FRESH_SAMPLE_SEED):
  """Agreement/MSE (see `vstar.agreement_and_mse`) of a MentorNet with its v* function on
  `num_points` grid points drawn afresh, plus `passed` (both thresholds met)."""
  spec = vstar_lib.get_vstar(vstar_name)
  features = generator.sample_input_grid(num_points, seed)
  result = vstar_lib.agreement_and_mse(mentornet_v(mentornet, features),
                                       spec(features, gamma), spec.binary_mask(features))
  result["passed"] = ((result["agreement"] is None or result["agreement"] >= MIN_AGREEMENT) and
                      (result["mse"] is None or result["mse"] <= MAX_MSE))
  return result


def loss_sweep(mentornet, epoch, moving_average, losses):
  """v float64 [k] along losses [k] at one epoch, with loss_diff = loss - moving_average."""
  losses = np.asarray(losses, np.float64)
  features = np.stack([losses, losses - moving_average, np.zeros_like(losses),
                       np.full_like(losses, float(epoch))], axis=1)
  return mentornet_v(mentornet, features)
