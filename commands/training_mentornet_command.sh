#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Reproduces the seven shipped MentorNets of mentornet_models/models/ (see
# mentornet_models/README.md): six predefined curricula learned from data_generator.py grids,
# and MentorNet DD learned from a StudentNet dump of a small ResNet trained on noisy CIFAR-10.
#
#   bash commands/training_mentornet_command.sh [OUTPUT_ROOT] [SCRATCH_DIR]
#
#   OUTPUT_ROOT  where the SavedModels (+ metrics.json) go [mentornet_models/models]
#   SCRATCH_DIR  generated data sets, checkpoints, the StudentNet run [runs/training_mentornet]
# Environment:
#   MODELS="a b"        only these rows of the table (names in the first column; dd = MentorNet DD)
#   DD_FROM_CSV=1       learn MentorNet DD from the committed dump $DUMP_CSV (skip the StudentNet)
#   DUMP_CSV            the StudentNet dump [mentornet_models/studentnet_dump_csv/nl_0.2.csv]
#   CIFAR_SOURCE        the CIFAR-10 source of make_noisy_data.py [../shared/data/cifar10_subset.npz]
#   PYTHON              the interpreter [python]
#   DRY_RUN=1           print the commands, run nothing
# Paths are relative to the repository root, where the commands run.
set -euo pipefail

# shellcheck source=commands/pipeline_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_env.sh"

OUTPUT_ROOT="${1:-mentornet_models/models}"
SCRATCH_DIR="${2:-runs/training_mentornet}"
MODELS="${MODELS:-baseline self_paced spcl_linear hard_example_mining focal_loss mentornet_pd dd}"
DUMP_CSV="${DUMP_CSV:-mentornet_models/studentnet_dump_csv/nl_0.2.csv}"
CIFAR_SOURCE="${CIFAR_SOURCE:-../shared/data/cifar10_subset.npz}"

# Predefined MentorNets.
# name | model dir under OUTPUT_ROOT | vstar_fn | vstar_gamma (- = default) | sample_size | max_step_train | learning_rate | seed
PREDEFINED_TABLE="
baseline            | baseline/baseline_mentornet                       | vstar_baseline            | - | 100000 | 3e4 | 0.1  | 0
self_paced          | self_paced/self_paced_mentornet                   | vstar_self_paced          | - | 100000 | 3e4 | 0.1  | 0
spcl_linear         | spcl_linear/spcl_linear_mentornet                 | vstar_spcl_linear         | 1 | 100000 | 3e4 | 0.1  | 0
hard_example_mining | hard_example_mining/hard_example_mining_mentornet | vstar_hard_example_mining | - | 100000 | 3e4 | 0.1  | 0
focal_loss          | focal_loss/focal_loss_mentornet                   | vstar_focal_loss          | 2 | 100000 | 3e4 | 0.1  | 0
mentornet_pd        | mentornet_pd1_g_1/mentornet_pd                    | vstar_mentornet_pd        | 1 | 100000 | 3e4 | 0.03 | 0
"

# MentorNet DD: StudentNet = a small ResNet (1 unit a stage, widths 16,16,32,64) on CIFAR-10 at
# noise 0.2, nominal budget DD_STUDENT_STEPS; trained in stages so that a checkpoint exists at
# each of DD_DUMP_STEPS (epoch = step / budget * 100: 18, 40, 60, 80, 90, 99), whose losses on a
# seeded 20% subset of the training examples make the dump.
DD_MODEL_DIR="nl_0.2_percentile_90/mentornet_dd"
DD_PERCENTILE=90
DD_STUDENT_STEPS=1000
DD_DUMP_STEPS="180 400 600 800 900 990"
DD_SUBSET_FRACTION=0.2
DD_SEED=0
DD_MAX_STEP_TRAIN=3e4
DD_LEARNING_RATE=0.1

wanted() {
  [[ " $MODELS " == *" $1 "* ]]
}

trim() {
  local text="$1"
  text="${text#"${text%%[![:space:]]*}"}"
  echo "${text%"${text##*[![:space:]]}"}"
}

while IFS='|' read -r name model_dir vstar_fn gamma sample_size steps lr seed; do
  name="$(trim "$name")"
  [[ -z $name ]] && continue
  wanted "$name" || continue
  model_dir="$(trim "$model_dir")"
  gamma="$(trim "$gamma")"
  gamma_flag=()
  [[ $gamma != "-" ]] && gamma_flag=(--vstar_gamma="$gamma")
  data_dir="$SCRATCH_DIR/data/$name"
  run "${PY[@]}" code/training_mentornet/data_generator.py --outdir="$data_dir" \
    --vstar_fn="$(trim "$vstar_fn")" "${gamma_flag[@]}" --sample_size="$(trim "$sample_size")" \
    --seed="$(trim "$seed")"
  run "${PY[@]}" code/training_mentornet/train.py --train_dir="$SCRATCH_DIR/train/$name" \
    --data_path="$data_dir" --max_step_train="$(trim "$steps")" \
    --learning_rate="$(trim "$lr")" --seed="$(trim "$seed")" \
    --export_dir="$OUTPUT_ROOT/$model_dir"
done <<<"$PREDEFINED_TABLE"

if wanted dd; then
  if [[ -z ${DD_FROM_CSV:-} ]]; then
    student_dir="$SCRATCH_DIR/studentnet/cifar10_0.2_resnet_small"
    run "${PY[@]}" data_tools/make_noisy_data.py --dataset_name=cifar10 \
      --source="$CIFAR_SOURCE" --noise_fractions=0.2 --seed=0 \
      --output_dir="$SCRATCH_DIR/cifar_data" --overwrite
    # One stage per dump step, then the rest of the nominal budget; a stage resumes the last.
    for stage_steps in $DD_DUMP_STEPS $DD_STUDENT_STEPS; do
      run "${PY[@]}" code/cifar_train_baseline.py --dataset_name=cifar10 \
        --data_dir="$SCRATCH_DIR/cifar_data/cifar10/0.2" --train_log_dir="$student_dir" \
        --studentnet=resnet101 --num_residual_units=1 --resnet_widths=16,16,32,64 \
        --batch_size=128 --max_number_of_steps="$stage_steps" --random_seed=0 --verbose=2
    done
    run "${PY[@]}" code/training_mentornet/dump_studentnet.py --checkpoint_dir="$student_dir" \
      --data_dir="$SCRATCH_DIR/cifar_data/cifar10/0.2" --output_csv="$DUMP_CSV" \
      --checkpoint_steps="${DD_DUMP_STEPS// /,}" --max_number_of_steps="$DD_STUDENT_STEPS" \
      --subset_fraction="$DD_SUBSET_FRACTION" --seed="$DD_SEED"
  fi
  csv_name="$(basename "$DUMP_CSV" .csv)"
  run "${PY[@]}" code/training_mentornet/data_generator.py --vstar_fn=data_driven \
    --input_csv_filename="$DUMP_CSV" --outdir="$SCRATCH_DIR/data/dd" --seed="$DD_SEED"
  run "${PY[@]}" code/training_mentornet/train.py --train_dir="$SCRATCH_DIR/train/dd" \
    --data_path="$SCRATCH_DIR/data/dd/${csv_name}_percentile_$DD_PERCENTILE" \
    --max_step_train="$DD_MAX_STEP_TRAIN" --learning_rate="$DD_LEARNING_RATE" \
    --seed="$DD_SEED" --export_dir="$OUTPUT_ROOT/$DD_MODEL_DIR"
fi

# Visualization (optional), as the original commands:
#   python code/training_mentornet/visualizer.py --model_dir=$OUTPUT_ROOT/mentornet_pd1_g_1/mentornet_pd \
#     --loss_bound=5 --epoch_ranges=0,10,18,20,30,40,50,60,70,80,90,95,99 --output_dir=$SCRATCH_DIR/plots/pd
#   python code/training_mentornet/visualizer.py --model_dir=$OUTPUT_ROOT/$DD_MODEL_DIR \
#     --loss_bound=15 --epoch_ranges=0,10,18,20,30,40,50,60,70,80,90,95,99 --output_dir=$SCRATCH_DIR/plots/dd
