"""Predefined curricula: v* functions mapping MentorNet features to target weights.

A v* function takes `features` float64 [n, 4] with columns (loss, loss_diff, label, epoch) --
loss_diff = loss - the loss moving average, label 0/1, epoch the percent of training 0..99 --
and a `gamma` hyper-parameter (ignored by some), and returns v* float64 [n] in [0, 1].

Adding a curriculum is one small decorated function:

  @register_vstar("vstar_my_curriculum", binary=True)
  def vstar_my_curriculum(features, gamma):
    return np.float64(features[:, LOSS] < 2.0)

`binary` says which points have 0/1 targets (True: all, False: none, or a function
features -> bool [n]); the acceptance checks threshold v at 0.5 there and use the squared error
elsewhere. `default_gamma` is used when --vstar_gamma is not given.
"""
import dataclasses
from typing import Callable
from typing import Optional
from typing import Union

import numpy as np

from mentornet.errors import UsageError

# Feature columns.
LOSS, LOSS_DIFF, LABEL, EPOCH = range(4)
# MentorNet PD: weight 1 up to this epoch, self-paced after it, SPCL linear from PD_SPCL_EPOCH.
PD_BURN_IN_LAST_EPOCH = 18
PD_SPCL_EPOCH = 90


@dataclasses.dataclass(frozen=True)
class VstarSpec:
  """A registered v* function and how its targets are checked."""
  name: str
  function: Callable[[np.ndarray, Optional[float]], np.ndarray]
  # True / False, or features [n, 4] -> bool [n]: where v* takes only the values 0 and 1.
  binary: Union[bool, Callable[[np.ndarray], np.ndarray]]
  default_gamma: Optional[float] = None  # None: the function has no hyper-parameter.
  description: str = ""

  @property
  def uses_gamma(self):
    return self.default_gamma is not None

  def __call__(self, features, gamma=None):
    """v* float64 [n] of features [n, 4]; gamma None -> `default_gamma`."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[1] != 4:
      raise ValueError(f"features must be [n, 4], got {list(features.shape)}")
    if self.uses_gamma:
      gamma = self.default_gamma if gamma is None else float(gamma)
    v = np.asarray(self.function(features, gamma), np.float64).reshape(-1)
    return np.broadcast_to(v, (features.shape[0],)).copy()

  def binary_mask(self, features):
    """bool [n]: the points whose target is 0/1 (checked by agreement, not squared error)."""
    n = np.asarray(features).shape[0]
    if callable(self.binary):
      return np.asarray(self.binary(np.asarray(features, np.float64)), bool).reshape(n)
    return np.full(n, bool(self.binary))


VSTAR_FUNCTIONS = {}


def register_vstar(name, binary, default_gamma=None):
  """Decorator adding `function(features, gamma) -> v*` to `VSTAR_FUNCTIONS` under `name`."""

  def register(function):
    if name in VSTAR_FUNCTIONS:
      raise ValueError(f"v* function {name!r} is already registered")
    description = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
    VSTAR_FUNCTIONS[name] = VstarSpec(name, function, binary, default_gamma, description)
    return function

  return register


def get_vstar(name):
  """The registered `VstarSpec` called `name`; `UsageError` listing the choices otherwise."""
  if name not in VSTAR_FUNCTIONS:
    raise UsageError(f"unknown --vstar_fn={name!r}; choose one of "
                     f"{', '.join(sorted(VSTAR_FUNCTIONS))} or data_driven")
  return VSTAR_FUNCTIONS[name]


def parse_gamma(text, spec):
  """--vstar_gamma ('' or a number) -> float or None (the default); checks it is > 0."""
  text = str(text if text is not None else "").strip()
  if not text:
    return None
  try:
    gamma = float(text)
  except ValueError:
    raise UsageError(f"--vstar_gamma={text!r} is not a number")
  if not np.isfinite(gamma) or gamma <= 0:
    raise UsageError(f"--vstar_gamma={text} must be a positive number")
  if not spec.uses_gamma:
    return None
  return gamma


# ----------------------------------------------------------------------------- curricula


@register_vstar("vstar_baseline", binary=True)
def vstar_baseline(features, gamma):
  """No curriculum: v* = 1 for every example."""
  del gamma
  return np.ones(features.shape[0])


@register_vstar("vstar_self_paced", binary=True)
def vstar_self_paced(features, gamma):
  """Self-paced learning (Kumar et al. 2010): v* = 1 if loss_diff <= 0 else 0."""
  del gamma
  return np.float64(features[:, LOSS_DIFF] <= 0)


@register_vstar("vstar_hard_example_mining", binary=True)
def vstar_hard_example_mining(features, gamma):
  """Hard example mining: v* = 1 if loss_diff >= 0 else 0; every label > 0 example is kept."""
  del gamma
  return np.float64((features[:, LOSS_DIFF] >= 0) | (features[:, LABEL] > 0))


@register_vstar("vstar_focal_loss", binary=False, default_gamma=2.0)
def vstar_focal_loss(features, gamma):
  """Focal loss (Lin et al. 2017): v* = (1 - exp(-loss)) ** gamma, gamma 2 by default."""
  return np.power(1.0 - np.exp(-features[:, LOSS]), gamma)


@register_vstar("vstar_spcl_linear", binary=False, default_gamma=1.0)
def vstar_spcl_linear(features, gamma):
  """Self-paced curriculum learning, linear (Jiang et al. 2015): clip(1 - diff / gamma, 0, 1)."""
  return np.clip(1.0 - features[:, LOSS_DIFF] / gamma, 0.0, 1.0)


def _pd_binary_part(features):
  return features[:, EPOCH] < PD_SPCL_EPOCH


@register_vstar("vstar_mentornet_pd", binary=_pd_binary_part, default_gamma=1.0)
def vstar_mentornet_pd(features, gamma):
  """MentorNet PD: 1 for epoch <= 18, self-paced for epoch < 90, then SPCL linear (gamma)."""
  epoch = features[:, EPOCH]
  v = np.where(epoch < PD_SPCL_EPOCH, vstar_self_paced(features, None),
               vstar_spcl_linear(features, gamma))
  return np.where(epoch <= PD_BURN_IN_LAST_EPOCH, 1.0, v)


# ----------------------------------------------------------------------------- checks


def agreement_and_mse(v, v_star, binary_mask=None):
  """How well weights v [n] match targets v* [n].

  Returns a dict: `agreement`, the fraction of the `binary_mask` points (default all) where
  (v >= 0.5) == (v* >= 0.5); `mse`, the mean squared error over the other points (over all
  points when binary_mask is None); `mse_all` over all points; and the point counts. A value is
  None when it has no points.
  """
  v = np.asarray(v, np.float64).reshape(-1)
  v_star = np.asarray(v_star, np.float64).reshape(-1)
  squared_error = np.square(v - v_star)
  agree = (v >= 0.5) == (v_star >= 0.5)
  if binary_mask is None:
    binary_mask = np.ones(v.shape, bool)
    continuous_mask = np.ones(v.shape, bool)
  else:
    binary_mask = np.asarray(binary_mask, bool).reshape(-1)
    continuous_mask = ~binary_mask

  def mean_or_none(values):
    return float(np.mean(values)) if values.size else None

  return {
      "agreement": mean_or_none(agree[binary_mask]),
      "mse": mean_or_none(squared_error[continuous_mask]),
      "mse_all": mean_or_none(squared_error),
      "num_binary_points": int(binary_mask.sum()),
      "num_continuous_points": int(continuous_mask.sum()),
  }
