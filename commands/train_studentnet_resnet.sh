#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Every ResNet-101 StudentNet run of the original README tables (CIFAR-10/100 x noise
# 0.2/0.4/0.8 x baseline, self-paced, focal loss, MentorNet PD, MentorNet DD), each with its
# eval job on the clean validation set, with the settings the original
# commands/train_studentnet_resnet.sh ran (code/mentornet/config/method_settings.py). A run
# trains on one GPU and evaluates on the next. Examples:
#   DRY_RUN=1 NUM_GPUS=2 bash commands/train_studentnet_resnet.sh      # print the commands
#   NUM_GPUS=8 bash commands/train_studentnet_resnet.sh                # 4 runs at a time
#   bash commands/train_studentnet_resnet.sh --methods=mentornet_dd --datasets=cifar10 \
#     --noise_fractions=0.4 --num_gpus=2
# --help lists every setting and its default; the grid is mentornet.experiments.grid.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/code${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m mentornet.cli.grid --studentnet=resnet101 "$@"
