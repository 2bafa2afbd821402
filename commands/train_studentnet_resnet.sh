#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Every ResNet-101 StudentNet run of the original README tables (CIFAR-10/100 x noise
# 0.2/0.4/0.8 x baseline, self-paced, focal loss, MentorNet PD, MentorNet DD), each with its
# eval job on the clean validation set. The settings are those the original
# commands/train_studentnet_resnet.sh ran, read from code/mentornet/config/method_settings.py
# (LOSS_P=written: the loss percentiles its commands wrote but its code ignored; see --help).
# Examples:
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

mn_main "$@"
