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
Every run ends by writing `<train_log_dir>/trust_report.csv` (`mentornet.analysis.trust_report`).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mentornet.cli import train

if __name__ == "__main__":
  train.run_mentornet()
