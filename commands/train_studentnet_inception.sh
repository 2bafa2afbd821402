#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Every Inception (slim cifarnet) StudentNet run of the original README tables (CIFAR-10/100 x
# noise 0.2/0.4/0.8 x baseline, self-paced, focal loss, MentorNet PD, MentorNet DD), each with
# its eval job on the clean validation set. The settings are those the original
# commands/train_studentnet_inception.sh ran, read from code/mentornet/config/method_settings.py
# (LOSS_P=written: the loss percentiles its commands wrote but its code ignored; see --help).
# The model is small, so, as in the original, a run trains and evaluates on one GPU
# (GPUS_PER_RUN=2 puts the eval job on the next GPU). Examples:
#   DRY_RUN=1 NUM_GPUS=2 bash commands/train_studentnet_inception.sh   # print the commands
#   NUM_GPUS=8 bash commands/train_studentnet_inception.sh             # 8 runs at a time
# See --help for all settings; the machinery is in commands/lib.sh.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MN_STUDENTNET=inception
MN_DEFAULT_MAX_STEPS=120000
MN_DEFAULT_GPUS_PER_RUN=1
# Learning rate 0.1 decayed x0.1 every 200 epochs (staircase), as the original commands ran it.
MN_TRAIN_FLAGS=(--num_epochs_per_decay=200 --learning_rate_decay_factor=0.1)

mn_main "$@"
