"""The per-method settings of the original commands: the one table every caller reads.

google/mentornet's commands/train_studentnet_{resnet,inception}.sh ran each method (curriculum)
with a MentorNet and the hyper-parameters below. The command grid (`mentornet.experiments.grid`,
behind `commands/train_studentnet_*.sh`), `commands/collect_results.py`, reproduce_small and
`mentornet-quickstart` all read them from here.

The loss percentile p: the original commands pass `--loss_p_precentile`, a misspelling of the
flag the code defines (`--loss_p_percentile`, default 0.7). TF 1.8's `tf.app.run`
(tensorflow/python/platform/app.py) parses the command line with
`flags.FLAGS(argv, known_only=True)`, which leaves unknown flags in argv instead of failing,
so the original runs used p = 0.7 for every method. `loss_p="effective"` (the default) gives
that; `loss_p="written"` gives the values written in the commands (0.75 / 0.6 / 0.5 ...);
`loss_p="clean_share"` gives p = 1 - noise fraction (at least 0.1), the share of right labels,
which `commands/reproduce_small.py`'s reduced regime uses (docs/regime_study.md).

A noise level between the table's fractions (e.g. the measured rate of human noise) takes the
written p of the nearest fraction; `nearest_noise_fraction` is the project's one nearest rule.
Standard library only.
"""
import dataclasses

from mentornet.config.defaults import MENTORMIX_BATCH_NORM_STATISTICS
from mentornet.config.defaults import ORIGINAL_LOSS_MOVING_AVERAGE_DECAY
from mentornet.config.defaults import ORIGINAL_LOSS_P_PERCENTILE

LOSS_P_MODES = ("effective", "written", "clean_share")
DEFAULT_LOSS_P = "effective"
# --loss_p=clean_share: p = 1 - noise fraction, rounded to 0.01, never below this.
MIN_CLEAN_SHARE_LOSS_P = 0.1
STUDENTNETS = ("resnet101", "inception")
# The shipped MentorNets, relative to the repository root; the table's `mentornet` paths are
# relative to it.
MENTORNET_MODELS_ROOT = "mentornet_models/models"


@dataclasses.dataclass(frozen=True)
class Method:
  """One method of the original commands.

  curriculum: `baseline` (code/cifar_train_baseline.py, no MentorNet) or `mentornet`.
  mentornet: SavedModel directory relative to `mentornet_models/models`.
  written_loss_p: ((noise_fraction, p), ...) written as `--loss_p_precentile`; () for none.
  example_dropout_rates: `[rate,n_epochs]+`; `inception_example_dropout_rates` overrides it
    for the inception StudentNet.
  original_dir: the run's directory name in the original commands' layout; None for a row
    that is not in the original commands (a shipped MentorNet, run with self_paced settings).
  """
  curriculum: str
  mentornet: str = None
  written_loss_p: tuple = ()
  burn_in_epoch: int = 0
  fixed_epoch_after_burn_in: bool = False
  example_dropout_rates: str = "0.0,100"
  inception_example_dropout_rates: str = None
  original_dir: str = None


METHODS = {
    "baseline": Method("baseline", original_dir="baseline"),
    "self_paced": Method("mentornet", "self_paced/self_paced_mentornet", ((None, 0.7),),
                         original_dir="selfpaced"),
    "focal_loss": Method("mentornet", "focal_loss/focal_loss_mentornet", ((None, 0.7),),
                         original_dir="focalloss"),
    "mentornet_pd": Method("mentornet", "mentornet_pd1_g_1/mentornet_pd",
                           ((0.2, 0.75), (0.4, 0.75), (0.8, 0.5)),
                           example_dropout_rates="0.5,17,0.05,83",
                           original_dir="mentornet_pd1_g_1"),
    "mentornet_dd": Method("mentornet", "nl_0.2_percentile_90/mentornet_dd",
                           ((0.2, 0.8), (0.4, 0.6), (0.8, 0.5)), burn_in_epoch=18,
                           fixed_epoch_after_burn_in=True,
                           example_dropout_rates="0.5,17,0.05,78,0.9,5",
                           inception_example_dropout_rates="0.5,17,0.05,83",
                           original_dir="mentornet_dd1"),
    "baseline_mentornet": Method("mentornet", "baseline/baseline_mentornet"),
    "spcl_linear": Method("mentornet", "spcl_linear/spcl_linear_mentornet"),
    "hard_example_mining": Method("mentornet",
                                  "hard_example_mining/hard_example_mining_mentornet"),
}
# The methods of the original commands and README tables, in their column order.
ORIGINAL_METHODS = tuple(name for name, m in METHODS.items() if m.original_dir)
# The original commands' noise fractions.
NOISE_FRACTIONS = (0.2, 0.4, 0.8)


def get_method(name):
  if name not in METHODS:
    raise ValueError(f"unknown method {name!r}; the table has: {', '.join(METHODS)}")
  return METHODS[name]


def _check_loss_p(loss_p):
  if loss_p not in LOSS_P_MODES:
    raise ValueError(f"loss_p must be one of {', '.join(LOSS_P_MODES)}, not {loss_p!r}")


def nearest_noise_fraction(noise_level, fractions=NOISE_FRACTIONS):
  """The fraction of `fractions` nearest `noise_level` (the first one on a tie)."""
  return min(fractions, key=lambda fraction: abs(fraction - noise_level))


def written_loss_p_percentile(name, noise_fraction):
  """p written in the original commands for the nearest noise fraction (0.7 where none)."""
  written = get_method(name).written_loss_p
  if not written:
    return ORIGINAL_LOSS_P_PERCENTILE
  if written[0][0] is None:
    return written[0][1]
  return dict(written)[nearest_noise_fraction(noise_fraction, [noise for noise, _ in written])]


def loss_p_percentile(name, noise_fraction, loss_p=DEFAULT_LOSS_P):
  """p of a method: 0.7, what the original ran (`effective`), what it wrote (`written`), or
  1 - noise_fraction (`clean_share`, rounded to 0.01, at least MIN_CLEAN_SHARE_LOSS_P)."""
  _check_loss_p(loss_p)
  get_method(name)
  if loss_p == "effective":
    return ORIGINAL_LOSS_P_PERCENTILE
  if loss_p == "clean_share":
    return max(MIN_CLEAN_SHARE_LOSS_P, round(1.0 - noise_fraction, 2))
  return written_loss_p_percentile(name, noise_fraction)


def example_dropout_rates(name, studentnet="resnet101"):
  if studentnet not in STUDENTNETS:
    raise ValueError(f"unknown studentnet {studentnet!r}; one of {', '.join(STUDENTNETS)}")
  method = get_method(name)
  if studentnet == "inception" and method.inception_example_dropout_rates:
    return method.inception_example_dropout_rates
  return method.example_dropout_rates


def curriculum_settings(name, noise_fraction, studentnet="resnet101", loss_p=DEFAULT_LOSS_P):
  """A method's settings at a noise fraction.

  Returns:
    {"curriculum": "baseline"}, or for a MentorNet method {"curriculum": "mentornet",
    "mentornet": <path under mentornet_models/models>, "loss_p_percentile",
    "burn_in_epoch", "fixed_epoch_after_burn_in", "loss_moving_average_decay",
    "example_dropout_rates": "<[rate,n_epochs]+ string>"}.
  """
  method = get_method(name)
  if method.curriculum == "baseline":
    return {"curriculum": "baseline"}
  return {"curriculum": method.curriculum, "mentornet": method.mentornet,
          "loss_p_percentile": loss_p_percentile(name, noise_fraction, loss_p),
          "burn_in_epoch": method.burn_in_epoch,
          "fixed_epoch_after_burn_in": method.fixed_epoch_after_burn_in,
          "loss_moving_average_decay": ORIGINAL_LOSS_MOVING_AVERAGE_DECAY,
          "example_dropout_rates": example_dropout_rates(name, studentnet)}


# MentorMix (Jiang, Huang, Liu and Yang, ICML 2020): the official CIFAR-10 commands
# (google-research mentormix/code/cifar_train_mentormix.py runs) per noise fraction:
# (mixup_alpha, loss_p_percentile, second_reweight); every one with burn-in 10, no example
# dropout and MentorNet PD.
MENTORMIX_OFFICIAL = {0.2: (2.0, 0.8, False), 0.4: (8.0, 0.6, False), 0.6: (8.0, 0.6, True),
                      0.8: (4.0, 0.2, True)}
MENTORMIX_BURN_IN_EPOCH = 10
MENTORMIX_MENTORNET = METHODS["mentornet_pd"].mentornet


def mentormix_settings(noise_fraction):
  """The official MentorMix settings at the nearest noise fraction of MENTORMIX_OFFICIAL, as
  `curricula.mentormix.MentorMixSettings` fields plus "curriculum" and "mentornet"."""
  alpha, p, second_reweight = MENTORMIX_OFFICIAL[
      nearest_noise_fraction(noise_fraction, tuple(MENTORMIX_OFFICIAL))]
  return {"curriculum": "mentormix", "mentornet": MENTORMIX_MENTORNET, "mixup_alpha": alpha,
          "loss_p_percentile": p, "second_reweight": second_reweight,
          "batch_norm_statistics": MENTORMIX_BATCH_NORM_STATISTICS,
          "burn_in_epoch": MENTORMIX_BURN_IN_EPOCH, "fixed_epoch_after_burn_in": False,
          "loss_moving_average_decay": ORIGINAL_LOSS_MOVING_AVERAGE_DECAY,
          "example_dropout_rates": "0.0,100"}


# Every method a grid can run: the table's rows and MentorMix.
ALL_METHODS = tuple(METHODS) + ("mentormix",)


def method_run_settings(name, noise_fraction, studentnet="resnet101", loss_p=DEFAULT_LOSS_P):
  """`curriculum_settings` of a table row, or `mentormix_settings` for "mentormix"."""
  if name == "mentormix":
    return mentormix_settings(noise_fraction)
  return curriculum_settings(name, noise_fraction, studentnet, loss_p)
