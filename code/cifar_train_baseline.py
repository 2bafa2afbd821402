"""Trains a StudentNet on (noisy) CIFAR without a curriculum: the original's baseline.

Example:
  python code/cifar_train_baseline.py --dataset_name=cifar10 --data_dir=data/cifar10/0.4 \
    --train_log_dir=cifar_models/cifar10/resnet/0.4/baseline/train --studentnet=resnet101 \
    --max_number_of_steps=39000
"""
from absl import app

from mentornet.curricula import base as curriculum
from mentornet.cli import flags as flags_lib
from mentornet.experiments import runner
from mentornet.errors import exit_on_usage_error

flags_lib.define_training_flags()


@exit_on_usage_error
def main(argv):
  del argv
  flags_lib.apply_device_id()
  flags_lib.apply_thread_flags()
  config = flags_lib.train_config_from_flags("baseline")
  result = runner.train_and_report(
      config, lambda **unused: curriculum.NoCurriculum(name="curriculum"))
  print(f"Finished at step {result['global_step']}; checkpoint {result['latest_checkpoint']}")


if __name__ == "__main__":
  app.run(main)
