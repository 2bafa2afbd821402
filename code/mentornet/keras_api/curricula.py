"""Curricula as user-facing settings objects: `MentorNet(...)`, `MentorMix(...)`,
`DataParameters(...)`, none.

`resolve_curriculum` turns what a user writes (a name, a SavedModel path, one of these objects
or None) into a spec whose `build(num_examples, num_classes)` makes the trainer's curriculum
layer (`mentornet.curricula`); every spec records its settings as a JSON-ready dict.

Defaults need no clean data: the MentorNet settings of the original commands (method table,
`mentornet.config.method_settings`), and the loss percentile p = 0.7 of the original code when
the noise rate is unknown (`loss_p_percentile`). When the share of wrong labels r is known or
estimated, p = 1 - r is the reduced regime's better choice (docs/regime_study.md).
"""
import dataclasses
import os
from typing import Optional

from mentornet.config import method_settings
from mentornet.config.defaults import ORIGINAL_EXAMPLE_DROPOUT_RATES
from mentornet.config.defaults import ORIGINAL_LOSS_MOVING_AVERAGE_DECAY
from mentornet.config.defaults import ORIGINAL_LOSS_P_PERCENTILE
from mentornet.curricula import base
from mentornet.curricula import data_parameters
from mentornet.curricula import mentormix
from mentornet.errors import UsageError
from mentornet.models import mentornet_net

# Shipped MentorNets by name: every row of the method table that runs a MentorNet.
MENTORNET_NAMES = tuple(name for name, method in method_settings.METHODS.items()
                        if method.curriculum == "mentornet")
DEFAULT_CURRICULUM = "mentornet_pd"
NO_CURRICULUM_NAMES = ("none", "baseline")
DATA_PARAMETERS_NAME = "data_parameters"
MENTORMIX_NAME = "mentormix"


def curriculum_names():
  """Every curriculum name `resolve_curriculum` takes (a SavedModel path is also taken)."""
  return MENTORNET_NAMES + (MENTORMIX_NAME, DATA_PARAMETERS_NAME, "none")


def _check_mentornet_name(name):
  """UsageError unless `name` is a shipped MentorNet or a directory."""
  if name not in MENTORNET_NAMES and not os.path.isdir(name):
    raise UsageError(f"curriculum {name!r} is neither a shipped MentorNet "
                     f"({', '.join(MENTORNET_NAMES)}) nor a MentorNet SavedModel directory")


def _mentornet_directory(name):
  """The SavedModel directory of a shipped MentorNet name or a path."""
  if name in MENTORNET_NAMES:
    return mentornet_net.shipped_mentornet_dir(method_settings.get_method(name).mentornet)
  return name


@dataclasses.dataclass
class MentorNet:
  """A frozen MentorNet weighting each example by its loss (Jiang et al., 2018).

  Args:
    name: a shipped MentorNet (`mentornet_pd`, `mentornet_dd`, `self_paced`, ...) or the path of
      a MentorNet SavedModel.
    loss_p_percentile: p of the batch-loss percentile whose moving average the MentorNet
      compares each loss with. Default 0.7, the original's, for an unknown noise rate; with a
      known share r of wrong labels, 1 - r.
    burn_in_epoch, fixed_epoch_after_burn_in, example_dropout_rates: None takes the original
      commands' values for a shipped name (method table), the original code's flag defaults
      for a path. Epochs are percent of training (0..99), whatever the `fit` length;
      `example_dropout_rates` is '[rate,n_epochs]+' over 100 such epochs.
    loss_moving_average_decay: decay of that moving average (0.5, the original's).
  """
  name: str = DEFAULT_CURRICULUM
  loss_p_percentile: float = ORIGINAL_LOSS_P_PERCENTILE
  burn_in_epoch: Optional[int] = None
  fixed_epoch_after_burn_in: Optional[bool] = None
  example_dropout_rates: Optional[str] = None
  loss_moving_average_decay: float = ORIGINAL_LOSS_MOVING_AVERAGE_DECAY

  def settings(self):
    """The resolved settings as a JSON-ready dict (UsageError for a bad one)."""
    if self.name in MENTORNET_NAMES:
      method = method_settings.get_method(self.name)
      defaults = {"burn_in_epoch": method.burn_in_epoch,
                  "fixed_epoch_after_burn_in": method.fixed_epoch_after_burn_in,
                  "example_dropout_rates": method.example_dropout_rates}
    else:
      _check_mentornet_name(self.name)
      defaults = {"burn_in_epoch": 0, "fixed_epoch_after_burn_in": False,
                  "example_dropout_rates": ORIGINAL_EXAMPLE_DROPOUT_RATES}
    if not 0.0 < float(self.loss_p_percentile) <= 1.0:
      raise UsageError(f"loss_p_percentile={self.loss_p_percentile:g} is outside (0, 1]")
    settings = {"curriculum": "mentornet", "mentornet": self.name,
                "loss_p_percentile": float(self.loss_p_percentile),
                "loss_moving_average_decay": float(self.loss_moving_average_decay)}
    for key, value in defaults.items():
      given = getattr(self, key)
      settings[key] = value if given is None else given
    base.parse_example_dropout_rates(settings["example_dropout_rates"])  # UsageError if bad.
    return settings

  def build(self, num_examples, num_classes):
    """The `MentorNetCurriculum` (loads the MentorNet; call inside the strategy scope)."""
    del num_examples, num_classes
    s = self.settings()
    mentornet = mentornet_net.load_mentornet(_mentornet_directory(self.name), flag_name=None)
    return base.MentorNetCurriculum(
        mentornet, loss_p_percentile=s["loss_p_percentile"], burn_in_epoch=s["burn_in_epoch"],
        fixed_epoch_after_burn_in=s["fixed_epoch_after_burn_in"],
        loss_moving_average_decay=s["loss_moving_average_decay"],
        example_dropout_rates=base.parse_example_dropout_rates(s["example_dropout_rates"]),
        name="curriculum")


# The authors' CIFAR-10 command at 40% noise (alpha 8, no second reweight, burn-in 10), with
# our batch-norm statistics.
_MENTORMIX = method_settings.mentormix_settings(0.4)


@dataclasses.dataclass
class MentorMix:
  """MentorMix (Jiang, Huang, Liu and Yang, ICML 2020): MentorNet weights pick each example's
  mixup partner in the batch and orient the mix towards the trusted one; the mixed input trains
  on both labels. It mixes the inputs, so they must be one float (or uint8 image) tensor.

  Args:
    mentornet: a shipped MentorNet name or a MentorNet SavedModel path (the authors':
      mentornet_pd).
    loss_p_percentile: as `MentorNet`: 0.7 for an unknown noise rate, 1 - r for a known one.
    mixup_alpha, second_reweight, burn_in_epoch: the authors' CIFAR-10 command at 40% noise
      (8, off, 10 percent of training); they use alpha 2 at 20% noise and the second reweight
      from 60%.
    batch_norm_statistics: "unmixed" (ours) or "mixed" (the authors'): whose batch-norm moving
      statistics inference uses.
    loss_moving_average_decay, example_dropout_rates: as `MentorNet` (no example dropout).
  """
  mentornet: str = DEFAULT_CURRICULUM
  loss_p_percentile: float = ORIGINAL_LOSS_P_PERCENTILE
  mixup_alpha: float = _MENTORMIX["mixup_alpha"]
  second_reweight: bool = _MENTORMIX["second_reweight"]
  burn_in_epoch: int = _MENTORMIX["burn_in_epoch"]
  batch_norm_statistics: str = _MENTORMIX["batch_norm_statistics"]
  loss_moving_average_decay: float = _MENTORMIX["loss_moving_average_decay"]
  example_dropout_rates: str = _MENTORMIX["example_dropout_rates"]

  def parsed(self):
    """The validated `curricula.mentormix.MentorMixSettings` (UsageError for a bad one)."""
    _check_mentornet_name(self.mentornet)
    return mentormix.MentorMixSettings(
        mixup_alpha=float(self.mixup_alpha), second_reweight=bool(self.second_reweight),
        batch_norm_statistics=self.batch_norm_statistics,
        loss_p_percentile=float(self.loss_p_percentile),
        loss_moving_average_decay=float(self.loss_moving_average_decay),
        burn_in_epoch=self.burn_in_epoch, example_dropout_rates=self.example_dropout_rates,
        trained_mentornet_dir=_mentornet_directory(self.mentornet)).validate()

  def settings(self):
    return {"curriculum": MENTORMIX_NAME, "mentornet": self.mentornet,
            **self.parsed().as_dict()}

  def build(self, num_examples, num_classes):
    """The `MentorMixCurriculum` (loads the MentorNet; call inside the strategy scope)."""
    del num_examples, num_classes
    parsed = self.parsed()
    mentornet = mentornet_net.load_mentornet(parsed.trained_mentornet_dir, flag_name=None)
    return mentormix.MentorMixCurriculum(mentornet, parsed, name="curriculum")


_NOISY_LABEL_SETTINGS = data_parameters.DataParametersSettings(
    **data_parameters.NOISY_LABEL_SETTINGS)


@dataclasses.dataclass
class DataParameters:
  """Data parameters (Saxena et al., 2019): a learned temperature per example and/or class.

  Defaults: instance parameters only, learning rate 0.2 and no weight decay (the paper's
  noisy-label setting, as reproduce_small runs it). Any other keyword of
  `mentornet.curricula.data_parameters.DataParametersSettings` may be given.
  """
  learn_class_parameters: bool = _NOISY_LABEL_SETTINGS.learn_class_parameters
  learn_inst_parameters: bool = _NOISY_LABEL_SETTINGS.learn_inst_parameters
  lr_class_param: float = _NOISY_LABEL_SETTINGS.lr_class_param
  lr_inst_param: float = _NOISY_LABEL_SETTINGS.lr_inst_param
  wd_class_param: float = _NOISY_LABEL_SETTINGS.wd_class_param
  wd_inst_param: float = _NOISY_LABEL_SETTINGS.wd_inst_param
  extra: dict = dataclasses.field(default_factory=dict)

  def parsed(self):
    fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}
    try:
      return data_parameters.DataParametersSettings(**fields, **self.extra).validate()
    except TypeError as e:
      raise UsageError(f"DataParameters: {e}") from e

  def settings(self):
    return {"curriculum": DATA_PARAMETERS_NAME, **self.parsed().as_dict()}

  def build(self, num_examples, num_classes):
    return data_parameters.DataParametersCurriculum(num_classes, num_examples, self.parsed(),
                                                    name="curriculum")


@dataclasses.dataclass
class NoCurriculum:
  """Every example weighs 1: plain cross-entropy training (the baseline)."""

  def settings(self):
    return {"curriculum": "none"}

  def build(self, num_examples, num_classes):
    del num_examples, num_classes
    return base.NoCurriculum(name="curriculum")


def needs_data(spec):
  """True when the curriculum's state depends on the training set (examples, classes)."""
  return isinstance(spec, DataParameters)


SPEC_CLASSES = {cls.__name__: cls
                for cls in (MentorNet, MentorMix, DataParameters, NoCurriculum)}


def spec_config(spec):
  """JSON-ready {class_name, config} of a spec (`CurriculumModel.get_config`)."""
  return {"class_name": type(spec).__name__, "config": dataclasses.asdict(spec)}


def spec_from_config(config):
  """The spec `spec_config` described."""
  return SPEC_CLASSES[config["class_name"]](**config["config"])


def resolve_curriculum(curriculum):
  """A spec (`MentorNet`, `MentorMix`, `DataParameters`, `NoCurriculum`) of what a user gave.

  Args:
    curriculum: None or "none" (no curriculum), a shipped MentorNet name, "mentormix",
      "data_parameters", a MentorNet SavedModel path, or a spec object.
  """
  if curriculum is None:
    return NoCurriculum()
  if isinstance(curriculum, tuple(SPEC_CLASSES.values())):
    return curriculum
  if isinstance(curriculum, str):
    if curriculum in NO_CURRICULUM_NAMES:
      return NoCurriculum()
    if curriculum == DATA_PARAMETERS_NAME:
      return DataParameters()
    if curriculum == MENTORMIX_NAME:
      return MentorMix()
    if curriculum in MENTORNET_NAMES or os.path.isdir(curriculum):
      return MentorNet(curriculum)
    raise UsageError(f"unknown curriculum {curriculum!r}: give one of "
                     f"{', '.join(curriculum_names())} or a MentorNet SavedModel directory")
  raise UsageError(f"curriculum must be a name, a path or a mentornet.MentorNet / MentorMix / "
                   f"DataParameters object, not {type(curriculum).__name__}")
