#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Every Inception (slim cifarnet) StudentNet run of the original README tables (CIFAR-10/100 x
# noise 0.2/0.4/0.8 x baseline, self-paced, focal loss, MentorNet PD, MentorNet DD), each with
# its eval job on the clean validation set, with the settings the original
# commands/train_studentnet_inception.sh ran (code/mentornet/config/method_settings.py). The
# model is small, so, as in the original, a run trains and evaluates on one GPU
# (GPUS_PER_RUN=2 puts the eval job on the next GPU). Examples:
#   DRY_RUN=1 NUM_GPUS=2 bash commands/train_studentnet_inception.sh   # print the commands
#   NUM_GPUS=8 bash commands/train_studentnet_inception.sh             # 8 runs at a time
# --help lists every setting and its default; the grid is mentornet.experiments.grid.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/code${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m mentornet.cli.grid --studentnet=inception "$@"
