#!/usr/bin/env bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Learns the data-driven MentorNet of reproduce_small's reduced regime from that regime's own
# StudentNet (mentornet_models/models/small_nl_0.4_percentile_<P>/mentornet_dd), with the
# regime read from reproduce_small's flag defaults (images a class, steps, widths, augmentation):
#   1. reproduce_small's data at noise 0.4 with seed DD_SEED (another image subsample and
#      other noise than the seeds the results are reported on);
#   2. the regime's baseline StudentNet trained in stages on its noisy training split, a
#      checkpoint at each dump step (epochs 18, 40, 60, 80, 90, 99 of the steps);
#   3. the dump of every noisy training example's loss at those checkpoints;
#   4. data_generator.py --vstar_fn=data_driven at percentile P = 100 x reproduce_small's
#      default loss percentile at noise 0.4 (--loss_p=clean_share: 60), train.py with the
#      shipped DD's settings.
#
#   bash commands/train_mentornet_dd_small.sh [OUTPUT_DIR] [SCRATCH_DIR]
#
#   OUTPUT_DIR   the SavedModel [mentornet_models/models/small_nl_0.4_percentile_<P>/mentornet_dd]
#   SCRATCH_DIR  data, StudentNet, dump, generated set [runs/mentornet_dd_small]
# Environment: CIFAR_SOURCE [../shared/data/cifar10_subset.npz], PYTHON [python], DRY_RUN=1
# (print the commands, run nothing).
set -euo pipefail

# shellcheck source=commands/pipeline_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_env.sh"

CIFAR_SOURCE="${CIFAR_SOURCE:-../shared/data/cifar10_subset.npz}"

NOISE=0.4
# The regime: reproduce_small's defaults, read from its flags (one place).
read -r EXAMPLES_PER_CLASS STEPS WIDTHS UNITS AUGMENTATION BOUNDARIES DUMP_STEPS PERCENTILE \
  <<<"$("${PY[@]}" -c "import sys; sys.path[:0] = ['commands', 'code']
import reproduce_small as r
from mentornet import method_settings, studentnets
f = r.FLAGS; f(['x'])
steps = f.max_number_of_steps
dump = ','.join(str(e * steps // 100) for e in (18, 40, 60, 80, 90, 99))
print(f.examples_per_class, steps, f.resnet_widths, f.num_residual_units,
      f.augmentation, ','.join(map(str, studentnets.scaled_resnet_boundaries(steps))), dump,
      round(100 * method_settings.loss_p_percentile('mentornet_dd', $NOISE, f.loss_p)))")"
[[ -n "$PERCENTILE" ]] || { echo "could not read reproduce_small's defaults" >&2; exit 1; }
DD_SEED=10
OUTPUT_DIR="${1:-mentornet_models/models/small_nl_${NOISE}_percentile_$PERCENTILE/mentornet_dd}"
SCRATCH_DIR="${2:-runs/mentornet_dd_small}"

data_root="$SCRATCH_DIR/data"
run "${PY[@]}" -c "import sys; sys.path.insert(0, 'commands'); import reproduce_small as r; \
r.prepare_data('$CIFAR_SOURCE', $NOISE, $DD_SEED, 0.1, '$data_root', 'symmetric', \
$EXAMPLES_PER_CLASS)"
student_dir="$SCRATCH_DIR/studentnet"
# float32, as the shipped small_nl_0.4_percentile_60 was learned (before bf16 became the default
# on CPUs that have it), so the pipeline reproduces it.
for stage_steps in ${DUMP_STEPS//,/ } $STEPS; do
  run "${PY[@]}" code/cifar_train_baseline.py --dataset_name=cifar10 \
    --data_dir="$data_root/train" --train_log_dir="$student_dir" --studentnet=resnet101 \
    --num_residual_units="$UNITS" --resnet_widths="$WIDTHS" --augmentation="$AUGMENTATION" \
    --batch_size=128 --mixed_precision=none \
    --learning_rate_boundaries="$BOUNDARIES" --max_number_of_steps="$stage_steps" \
    --random_seed="$DD_SEED"
done
dump_csv="$SCRATCH_DIR/small_nl_$NOISE.csv"
run "${PY[@]}" code/training_mentornet/dump_studentnet.py --checkpoint_dir="$student_dir" \
  --data_dir="$data_root/train" --output_csv="$dump_csv" \
  --checkpoint_steps="$DUMP_STEPS" --max_number_of_steps="$STEPS" --seed="$DD_SEED"
run "${PY[@]}" code/training_mentornet/data_generator.py --vstar_fn=data_driven \
  --input_csv_filename="$dump_csv" --percentiles="$PERCENTILE" --outdir="$SCRATCH_DIR/dd_data" \
  --seed="$DD_SEED"
run "${PY[@]}" code/training_mentornet/train.py --train_dir="$SCRATCH_DIR/dd_train" \
  --data_path="$SCRATCH_DIR/dd_data/small_nl_${NOISE}_percentile_$PERCENTILE" --max_step_train=3e4 \
  --learning_rate=0.1 --seed="$DD_SEED" --export_dir="$OUTPUT_DIR"
