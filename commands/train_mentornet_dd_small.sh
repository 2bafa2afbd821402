#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Learns the data-driven MentorNet of reproduce_small's reduced regime from that regime's own
# StudentNet (mentornet_models/models/small_nl_0.4_percentile_<P>/mentornet_dd), with the
# regime read from reproduce_small's defaults (SmallConfig: images a class, steps, widths,
# augmentation):
#   1. reproduce_small's data at noise 0.4 with another seed than the results are reported on;
#   2. the regime's baseline StudentNet trained in stages on its noisy training split, a
#      checkpoint at each dump step (epochs 18, 40, 60, 80, 90, 99 of the steps);
#   3. the dump of every noisy training example's loss at those checkpoints;
#   4. data_generator.py --vstar_fn=data_driven at percentile P = 100 x reproduce_small's
#      default loss percentile at noise 0.4, train.py with the shipped DD's settings.
# The steps are in code/mentornet/experiments/mentornet_dd_small.py.
#
#   bash commands/train_mentornet_dd_small.sh [OUTPUT_DIR] [SCRATCH_DIR]
#
# OUTPUT_DIR gets the SavedModel, SCRATCH_DIR the data, StudentNet, dump and generated set.
# Settings (flags --name=value or environment variables; --help lists them with their
# defaults): CIFAR_SOURCE, PYTHON, DRY_RUN=1 (print the steps, run nothing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/code${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
read -ra python <<<"${PYTHON:-python}"
exec "${python[@]}" -m mentornet.cli.mentornet_dd_small "$@"
