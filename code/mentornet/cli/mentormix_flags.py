"""absl flags of `--curriculum=mentormix` (the authors' names and defaults, plus three of ours).

google-research/mentormix/code/cifar_train_mentormix.py defines --mixup_alpha (8.0) and
--second_reweight (True); `define_mentormix_flags` adds them and our --mentormix_weighting,
--mentormix_partner_sampling and --mentormix_batch_norm_statistics. The flags MentorMix shares
with the MentorNet curriculum (--trained_mentornet_dir, --loss_p_percentile 0.7, --burn_in_epoch 0,
--loss_moving_average_decay 0.5, --fixed_epoch_after_burn_in, --example_dropout_rates) come from
`mentornet.cli.flags.define_mentornet_flags`, which the script calls too. Their defaults are the
authors' MentorMix defaults except --example_dropout_rates, whose MentorNet default differs:
`mentormix_settings_from_flags` uses MentorMix's "0.0,100" unless the flag is given.
"""

from absl import flags

from mentornet.cli import flags as flags_lib
from mentornet.config import defaults
from mentornet.curricula import mentormix

FLAGS = flags.FLAGS


def define_mentormix_flags(flag_values=FLAGS):
  """Defines the MentorMix flags (call `flags_lib.define_mentornet_flags` as well)."""
  define = dict(flag_values=flag_values)
  flags.DEFINE_float("mixup_alpha", defaults.ORIGINAL_MENTORMIX_MIXUP_ALPHA,
                     "MentorMix: alpha of the Beta(alpha, alpha) mixing weight (0: no mixing).",
                     **define)
  flags.DEFINE_bool("second_reweight", defaults.ORIGINAL_MENTORMIX_SECOND_REWEIGHT,
                    "MentorMix: weigh the mixed examples' losses again with the MentorNet.",
                    **define)
  flags.DEFINE_string("mentormix_weighting", "mentornet",
                      "MentorMix v: mentornet (the MentorNet of --trained_mentornet_dir) or "
                      "threshold (1 if the loss is below its moving percentile, else 0).",
                      **define)
  flags.DEFINE_string("mentormix_partner_sampling", "softmax",
                      "MentorMix partner distribution over the batch: softmax (softmax(v), the "
                      "authors') or proportional (v / sum(v)).", **define)
  flags.DEFINE_string("mentormix_batch_norm_statistics", defaults.MENTORMIX_BATCH_NORM_STATISTICS,
                      "MentorMix: the batch-norm moving statistics evaluation uses come from "
                      "the unmixed first pass (unmixed, ours) or the mixed second pass (mixed, "
                      "the authors').", **define)


def mentormix_settings_from_flags(flag_values=FLAGS):
  """Validated `mentormix.MentorMixSettings` from the flags (raises `UsageError`)."""
  dropout = defaults.ORIGINAL_MENTORMIX_EXAMPLE_DROPOUT_RATES
  if flag_values["example_dropout_rates"].present:
    dropout = ",".join(str(item).strip() for item in flag_values.example_dropout_rates)
  settings = mentormix.MentorMixSettings(
      mixup_alpha=flag_values.mixup_alpha, second_reweight=flag_values.second_reweight,
      weighting=flag_values.mentormix_weighting,
      partner_sampling=flag_values.mentormix_partner_sampling,
      batch_norm_statistics=flag_values.mentormix_batch_norm_statistics,
      loss_p_percentile=flag_values.loss_p_percentile,
      loss_moving_average_decay=flag_values.loss_moving_average_decay,
      burn_in_epoch=flag_values.burn_in_epoch,
      fixed_epoch_after_burn_in=flag_values.fixed_epoch_after_burn_in,
      example_dropout_rates=dropout,
      trained_mentornet_dir=flag_values.trained_mentornet_dir).validate()
  if settings.weighting == "mentornet":
    flags_lib.check_mentornet_path(settings.trained_mentornet_dir)
  return settings
