#!/usr/bin/env bash
# Copyright 2026 the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# MentorMix (Jiang, Huang, Liu and Yang, ICML 2020) at full size: the ResNet-101 StudentNet on
# CIFAR-10/100 at noise 0.2/0.4/0.8 with the authors' CIFAR-10 settings for each noise level
# (mixup alpha, loss percentile, second reweight; burn-in 10; MentorNet PD), each run with its
# eval job on the clean validation set; the same grid as train_studentnet_resnet.sh, so every
# setting of its --help applies. Examples:
#   DRY_RUN=1 NUM_GPUS=2 bash commands/train_studentnet_mentormix.sh   # print the commands
#   NUM_GPUS=8 bash commands/train_studentnet_mentormix.sh --datasets=cifar10
# Results: python commands/collect_results.py --root=cifar_models (a mentormix column).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/code${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m mentornet.cli.grid --studentnet=resnet101 --methods=mentormix "$@"
