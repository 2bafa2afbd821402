#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Every ResNet-101 StudentNet run of the original README tables (CIFAR-10/100 x noise
# 0.2/0.4/0.8 x baseline, self-paced, focal loss, MentorNet PD, MentorNet DD), each with its
# eval job on the clean validation set. The settings are those of the original
# commands/train_studentnet_resnet.sh. Examples:
#   DRY_RUN=1 NUM_GPUS=2 bash commands/train_studentnet_resnet.sh      # print the commands
#   NUM_GPUS=8 bash commands/train_studentnet_resnet.sh                # 4 runs at a time
#   bash commands/train_studentnet_resnet.sh --methods=mentornet_dd --datasets=cifar10 \
#     --noise_fractions=0.4 --num_gpus=2
# See --help for all settings; the machinery is in commands/lib.sh.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MN_STUDENTNET=resnet101
MN_DEFAULT_MAX_STEPS=39000        # about 100 epochs of 50k images at batch 128
MN_DEFAULT_GPUS_PER_RUN=2         # train on one GPU, evaluate on the next one
MN_TRAIN_FLAGS=()                 # learning rate: the default piecewise schedule from 0.1

# percentile `a:b,...` = per noise fraction. Rows after mentornet_dd are not in the original
# commands (nor in METHODS by default): shipped MentorNets, with the self_paced settings.
mn_table <<'TABLE'
# method            | mentornet_model_path                          | loss_p_percentile       | burn_in | fixed | example_dropout_rates
baseline            | -                                             | -                       | -       | -     | -
self_paced          | self_paced/self_paced_mentornet               | 0.7                     | 0       | no    | 0.0,100
focal_loss          | focal_loss/focal_loss_mentornet               | 0.7                     | 0       | no    | 0.0,100
mentornet_pd        | mentornet_pd1_g_1/mentornet_pd                | 0.2:0.75,0.4:0.75,0.8:0.5 | 0     | no    | 0.5,17,0.05,83
mentornet_dd        | nl_0.2_percentile_90/mentornet_dd             | 0.2:0.8,0.4:0.6,0.8:0.5 | 18      | yes   | 0.5,17,0.05,78,0.9,5
baseline_mentornet  | baseline/baseline_mentornet                   | 0.7                     | 0       | no    | 0.0,100
spcl_linear         | spcl_linear/spcl_linear_mentornet             | 0.7                     | 0       | no    | 0.0,100
hard_example_mining | hard_example_mining/hard_example_mining_mentornet | 0.7                 | 0       | no    | 0.0,100
TABLE

mn_main "$@"
