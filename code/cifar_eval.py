"""Evaluates a StudentNet's checkpoints on a clean split, as they appear.

Example (run beside the training job):
  python code/cifar_eval.py --dataset_name=cifar10 --data_dir=data/cifar10/val \
    --checkpoint_dir=cifar_models/cifar10/resnet/0.2/mentornet_pd1_g_1/train \
    --eval_dir=cifar_models/cifar10/resnet/0.2/mentornet_pd1_g_1/eval_val --studentnet=resnet101
Add --run_once to evaluate the latest checkpoint and exit. When the run's train_config.json is
in --checkpoint_dir, the StudentNet flags default to the run's; a flag that contradicts it is
an error. A wrong StudentNet or a corrupt data file stops the job with one line before
--eval_dir is created; a checkpoint deleted while being read is skipped.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mentornet.cli import eval as eval_cli

if __name__ == "__main__":
  eval_cli.run_main()
