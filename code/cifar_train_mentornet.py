"""Trains a StudentNet whose per-example losses are weighted by a frozen MentorNet.

The original's flags and defaults work unchanged, including the commands' `--loss_p_precentile`
spelling. Example:
  python code/cifar_train_mentornet.py --dataset_name=cifar10 \
    --trained_mentornet_dir=mentornet_models/models/mentornet_pd1_g_1/mentornet_pd \
    --loss_p_precentile=0.75 --nofixed_epoch_after_burn_in --burn_in_epoch=0 \
    --example_dropout_rates="0.5,17,0.05,83" --data_dir=data/cifar10/0.2 \
    --train_log_dir=cifar_models/cifar10/resnet/0.2/mentornet_pd1_g_1/train \
    --studentnet=resnet101 --max_number_of_steps=39000

`--curriculum=data_parameters` trains with data parameters instead (Saxena et al., NeurIPS
2019; the authors' flag names; no MentorNet needed), e.g. instance parameters on noisy data:
  python code/cifar_train_mentornet.py --curriculum=data_parameters --learn_inst_parameters \
    --lr_inst_param=0.2 --wd_inst_param=0.0 --data_dir=data/cifar10/0.4 \
    --train_log_dir=cifar_models/cifar10/resnet/0.4/data_parameters/train
Every run ends by writing `<train_log_dir>/trust_report.csv` (see `mentornet.analysis.trust_report`).
"""
from absl import app
from absl import flags

from mentornet.curricula import base as curriculum
from mentornet.data import pipeline as data
from mentornet.curricula import data_parameters
from mentornet.training import distribution
from mentornet.cli import flags as flags_lib
from mentornet.models import mentornet_net
from mentornet.experiments import runner
from mentornet.errors import exit_on_usage_error

flags_lib.define_training_flags()
flags_lib.define_mentornet_flags()
flags.DEFINE_enum("curriculum", "mentornet", ["mentornet", "data_parameters"],
                  "mentornet: weigh examples with the MentorNet of --trained_mentornet_dir; "
                  "data_parameters: learn class/instance temperatures (the flags below).")
data_parameters.define_data_parameters_flags()


def train_with_data_parameters():
  """--curriculum=data_parameters: flags checked (and ids, for instance parameters) first."""
  settings = data_parameters.data_parameters_settings_from_flags()
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


@exit_on_usage_error
def main(argv):
  del argv
  flags_lib.apply_device_id()
  flags_lib.apply_thread_flags()
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


if __name__ == "__main__":
  app.run(main)
