#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Reproduces the seven shipped MentorNets of mentornet_models/models/ (see
# mentornet_models/README.md): six predefined curricula learned from data_generator.py grids,
# and MentorNet DD learned from a StudentNet dump of a small ResNet trained on noisy CIFAR-10.
# The recipes are in code/mentornet/learning/pipelines.py.
#
#   bash commands/training_mentornet_command.sh [OUTPUT_ROOT] [SCRATCH_DIR]
#
# OUTPUT_ROOT gets the SavedModels (+ metrics.json), SCRATCH_DIR the generated data sets,
# checkpoints and the StudentNet run. Settings (flags --name=value or environment variables;
# --help lists them with their defaults): MODELS="a b" (only these; dd = MentorNet DD),
# DD_FROM_CSV=1 (DD from the committed dump DUMP_CSV, no StudentNet), CIFAR_SOURCE, PYTHON,
# DRY_RUN=1 (print the commands, run nothing). Paths are relative to the repository root.
#
# Visualization (optional), as the original commands:
#   python code/training_mentornet/visualizer.py \
#     --model_dir=mentornet_models/models/mentornet_pd1_g_1/mentornet_pd --loss_bound=5 \
#     --epoch_ranges=0,10,18,20,30,40,50,60,70,80,90,95,99 --output_dir=runs/plots/pd
#   python code/training_mentornet/visualizer.py \
#     --model_dir=mentornet_models/models/nl_0.2_percentile_90/mentornet_dd --loss_bound=15 \
#     --epoch_ranges=0,10,18,20,30,40,50,60,70,80,90,95,99 --output_dir=runs/plots/dd
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/code${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
read -ra python <<<"${PYTHON:-python}"
exec "${python[@]}" -m mentornet.cli.learn_shipped "$@"
