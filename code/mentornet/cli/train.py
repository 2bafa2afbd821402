"""The training entry points: `mentornet-train` (code/cifar_train_mentornet.py) and
`mentornet-train-baseline` (code/cifar_train_baseline.py), with the original flags.

`mentornet-train` weighs examples with a frozen MentorNet (the original's flags, including the
commands' `--loss_p_precentile` spelling) or, with `--curriculum=data_parameters`, learns data
parameters (Saxena et al., NeurIPS 2019; the authors' flag names). Every run ends by writing
`<train_log_dir>/trust_report.csv` (`mentornet.analysis.trust_report`).
"""
from absl import app
from absl import flags

from mentornet.cli import flags as flags_lib
from mentornet.cli import mentormix_flags
from mentornet.curricula import base as curriculum
from mentornet.curricula import data_parameters
from mentornet.curricula import mentormix
from mentornet.data import pipeline as data
from mentornet.errors import exit_on_usage_error
from mentornet.experiments import runner
from mentornet.models import mentornet_net
from mentornet.training import distribution

CURRICULA = ("mentornet", "data_parameters", "mentormix")


def define_mentornet_flags():
  """Every flag of `mentornet-train`."""
  flags_lib.define_training_flags()
  flags_lib.define_mentornet_flags()
  flags.DEFINE_enum("curriculum", "mentornet", list(CURRICULA),
                    "mentornet: weigh examples with the MentorNet of --trained_mentornet_dir; "
                    "data_parameters: learn class/instance temperatures (the flags below); "
                    "mentormix: MentorNet weights with mixup (Jiang et al., ICML 2020).")
  flags_lib.define_data_parameters_flags()
  mentormix_flags.define_mentormix_flags()


def train_with_data_parameters():
  """--curriculum=data_parameters: flags checked (and ids, for instance parameters) first."""
  settings = flags_lib.data_parameters_settings_from_flags()
  config = flags_lib.train_config_from_flags("data_parameters",
                                             curriculum_settings=settings.as_dict())
  strategy = distribution.make_strategy(config.strategy, config.num_gpus, config.cpu_replicas)
  if settings.learn_inst_parameters:
    split = data.describe_split(config.data_dir, config.dataset_name, "train")
    data_parameters.check_example_ids(split.files, split.num_examples)

  def make_curriculum(num_examples, num_classes):
    return data_parameters.DataParametersCurriculum(num_classes, num_examples, settings,
                                                    name="curriculum")

  return runner.train_and_report(config, make_curriculum, strategy=strategy)


def train_with_mentormix():
  """--curriculum=mentormix: its flags checked and its MentorNet loaded before anything is
  written."""
  settings = mentormix_flags.mentormix_settings_from_flags()
  config = flags_lib.train_config_from_flags("mentormix",
                                             curriculum_settings=settings.as_dict())
  strategy = distribution.make_strategy(config.strategy, config.num_gpus, config.cpu_replicas)
  mentornet = None
  if settings.weighting == "mentornet":
    with strategy.scope():
      mentornet = mentornet_net.load_mentornet(settings.trained_mentornet_dir)
  return runner.train_and_report(
      config, lambda **unused: mentormix.MentorMixCurriculum(mentornet, settings,
                                                             name="curriculum"),
      strategy=strategy)


@exit_on_usage_error
def mentornet_main(argv):
  del argv
  flags_lib.apply_device_id()
  flags_lib.apply_thread_flags()
  if flags_lib.FLAGS.curriculum == "mentormix":
    result = train_with_mentormix()
    print(f"Finished at step {result['global_step']}; checkpoint {result['latest_checkpoint']}")
    return
  if flags_lib.FLAGS.curriculum == "data_parameters":
    result = train_with_data_parameters()
    print(f"Finished at step {result['global_step']}; checkpoint {result['latest_checkpoint']}")
    return
  settings = flags_lib.mentornet_settings_from_flags()
  config = flags_lib.train_config_from_flags(
      "mentornet", curriculum_settings={
          "trained_mentornet_dir": flags_lib.FLAGS.trained_mentornet_dir,
          **{k: v for k, v in settings.items() if k != "example_dropout_rates"},
          "example_dropout_rates": ",".join(flags_lib.FLAGS.example_dropout_rates)})
  strategy = distribution.make_strategy(config.strategy, config.num_gpus, config.cpu_replicas)
  with strategy.scope():
    # Validated here, before train_log_dir is created or touched.
    mentornet = mentornet_net.load_mentornet(flags_lib.FLAGS.trained_mentornet_dir)

  def make_curriculum(**unused):
    return curriculum.MentorNetCurriculum(mentornet, name="curriculum", **settings)

  result = runner.train_and_report(config, make_curriculum, strategy=strategy)
  print(f"Finished at step {result['global_step']}; checkpoint {result['latest_checkpoint']}")




@exit_on_usage_error
def baseline_main(argv):
  del argv
  flags_lib.apply_device_id()
  flags_lib.apply_thread_flags()
  config = flags_lib.train_config_from_flags("baseline")
  result = runner.train_and_report(
      config, lambda **unused: curriculum.NoCurriculum(name="curriculum"))
  print(f"Finished at step {result['global_step']}; checkpoint {result['latest_checkpoint']}")


def run_mentornet():
  define_mentornet_flags()
  app.run(mentornet_main)


def define_baseline_flags():
  """Every flag of `mentornet-train-baseline`."""
  flags_lib.define_training_flags()


def run_baseline():
  define_baseline_flags()
  app.run(baseline_main)
