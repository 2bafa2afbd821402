# shellcheck shell=bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Shared machinery of commands/train_studentnet_*.sh: the table of runs, flag assembly,
# GPU placement, launching and waiting. Source this file; do not run it.
#
# A caller sets
#   MN_STUDENTNET            resnet101 | inception
#   MN_DEFAULT_MAX_STEPS     --max_number_of_steps unless MAX_STEPS is set
#   MN_DEFAULT_GPUS_PER_RUN  2: a run trains on one GPU and evaluates on the next one;
#                            1: training and its eval job share one GPU
#   MN_TRAIN_FLAGS           (array) flags added to every training command of this StudentNet
# and calls `mn_main "$@"`. The settings of each method come from the package's one table,
# code/mentornet/config/method_settings.py, which prints rows of
# `method | original yes|no | mentornet_model_path | loss_p_percentile | burn_in_epoch |
# fixed_epoch_after_burn_in | example_dropout_rates`:
#   mentornet_model_path       under $MENTORNET_ROOT; `-` trains without MentorNet
#                              (code/cifar_train_baseline.py; the other columns are then ignored)
#   loss_p_percentile          a value for every noise fraction, or per noise fraction:
#                              `0.2:0.8,0.4:0.6,0.8:0.5` (`*:v` matches any noise fraction);
#                              a noise directory that is not a fraction (human noise, e.g.
#                              human_worse_label) takes the fraction nearest the realized_noise
#                              of its manifest.json
#   fixed_epoch_after_burn_in  yes | no
#   example_dropout_rates      [rate,n_epochs]+ with the n_epochs summing to 100

MN_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MN_SETTINGS=(NUM_GPUS GPUS_PER_RUN MAX_PARALLEL DATASETS NOISE_FRACTIONS METHODS OUTPUT_ROOT
  DATA_ROOT MENTORNET_ROOT MAX_STEPS LOSS_P EXTRA_TRAIN_FLAGS EXTRA_EVAL_FLAGS EVAL_TIMEOUT_SECS
  EVAL_GRACE_SECS SKIP_EVAL PYTHON DRY_RUN)

declare -a MN_TABLE_ORDER=() MN_ORIGINAL_METHODS=()
declare -A MN_PATH=() MN_PERCENTILE=() MN_BURN_IN=() MN_FIXED=() MN_DROPOUT=()
declare -A MN_LEVEL=()  # dataset/noise directory -> its realized noise, for non-fraction names
declare -a MN_SLOT_PID=() MN_ALL_PIDS=()

mn_die() {
  echo "${0##*/}: error: $*" >&2
  exit 2
}

mn_usage() {
  cat <<EOF
Usage: bash ${0##*/} [--dry_run] [--num_gpus=N] [--methods=a,b] [--name=value ...]

Trains every StudentNet ($MN_STUDENTNET) run of the method table (code/mentornet/config/method_settings.py)
(datasets x noise fractions x methods), each with its eval job on the clean validation set.
Every setting is a flag --name=value or an environment variable NAME=value:
  NUM_GPUS           GPUs on this machine; runs are placed round-robin via --device_id [1]
  GPUS_PER_RUN       2: train on one GPU, its eval job on the next; 1: both on one GPU [$MN_DEFAULT_GPUS_PER_RUN]
  MAX_PARALLEL       runs (training + eval job) at a time, 0 = all at once
                     [NUM_GPUS / GPUS_PER_RUN, at least 1]
  DATASETS           [cifar10 cifar100]
  NOISE_FRACTIONS    [0.2 0.4 0.8]; also human-noise directories such as human_worse_label
                     (data_tools/make_noisy_data.py --noise_type=human)
  METHODS            [${MN_ORIGINAL_METHODS[*]}]
                     table rows: ${MN_TABLE_ORDER[*]}
  LOSS_P             effective: p = 0.7 for every method, what the original ran (its code
                     ignored the commands' misspelled --loss_p_precentile); written: the
                     values written there (0.75, 0.6, 0.5, ...) [effective]
  OUTPUT_ROOT        runs go to OUTPUT_ROOT/<dataset>/$MN_STUDENTNET/<noise>/<method>/{train,eval_val} [cifar_models]
  DATA_ROOT          TFRecords in DATA_ROOT/<dataset>/<noise> and DATA_ROOT/<dataset>/val [data]
  MENTORNET_ROOT     trained MentorNets [mentornet_models/models]
  MAX_STEPS          --max_number_of_steps [$MN_DEFAULT_MAX_STEPS]
  EXTRA_TRAIN_FLAGS  more flags for every training command, e.g. "--batch_size=64"
  EXTRA_EVAL_FLAGS   more flags for every eval command
  EVAL_TIMEOUT_SECS  --eval_timeout_secs of cifar_eval.py; empty: not passed [2700]
  EVAL_GRACE_SECS    once training has ended, its eval job gets this long to finish [1800]
  SKIP_EVAL=1        launch no eval jobs
  PYTHON             the interpreter [python]
  DRY_RUN=1          print the commands (one a line), run nothing
Lists take spaces or commas. Relative paths are relative to the repository root, where the
commands run. Logs: <run>/train.log and <run>/eval.log.
EOF
}

# Loads the method table of code/mentornet/config/method_settings.py (LOSS_P picks p).
mn_load_table() {
  local rows line method original path pct burn fixed drop rest
  rows="$(python3 "$MN_REPO_ROOT/code/mentornet/config/method_settings.py" \
    --studentnet="$MN_STUDENTNET" --loss_p="${LOSS_P:=effective}" 2>&1)" ||
    mn_die "method table (LOSS_P=$LOSS_P): ${rows##*$'\n'}"
  while IFS= read -r line; do
    IFS='|' read -r method original path pct burn fixed drop rest <<<"$line"
    [[ -z ${rest// /} && -n ${drop// /} ]] || mn_die "table row needs 7 columns: '$line'"
    method="$(mn_trim "$method")"
    MN_TABLE_ORDER+=("$method")
    [[ $(mn_trim "$original") == yes ]] && MN_ORIGINAL_METHODS+=("$method")
    MN_PATH[$method]="$(mn_trim "$path")"
    MN_PERCENTILE[$method]="$(mn_trim "$pct")"
    MN_BURN_IN[$method]="$(mn_trim "$burn")"
    MN_FIXED[$method]="$(mn_trim "$fixed")"
    MN_DROPOUT[$method]="$(mn_trim "$drop")"
  done <<<"$rows"
}

mn_trim() {
  local s="$1"
  s="${s#"${s%%[![:space:]]*}"}"
  printf '%s' "${s%"${s##*[![:space:]]}"}"
}

# mn_list NAME "a, b c": the words of a space- or comma-separated list, into array NAME.
mn_list() {
  local -n _out="$1"
  local _word
  _out=()
  for _word in ${2//,/ }; do _out+=("$_word"); done
}

# mn_per_noise SPEC NOISE [LEVEL]: SPEC is a value, or `noise:value` pairs separated by commas;
# with LEVEL (the realized noise of a human-noise directory), the pair nearest LEVEL.
mn_per_noise() {
  local spec="$1" noise="$2" level="${3:-}" item fallback="" nearest
  if [[ $spec != *:* ]]; then
    printf '%s' "$spec"
    return 0
  fi
  if [[ -n $level ]]; then
    nearest="$(awk -v spec="$spec" -v level="$level" 'BEGIN {
      n = split(spec, items, ",")
      for (i = 1; i <= n; i++) {
        split(items[i], kv, ":")
        if (kv[1] == "*") continue
        d = kv[1] - level; if (d < 0) d = -d
        if (!found || d < best) { found = 1; best = d; value = kv[2] }
      }
      printf "%s", value }')"
    if [[ -n $nearest ]]; then
      printf '%s' "$nearest"
      return 0
    fi
  fi
  for item in ${spec//,/ }; do
    if [[ ${item%%:*} == "$noise" ]]; then
      printf '%s' "${item#*:}"
      return 0
    fi
    [[ ${item%%:*} == '*' ]] && fallback="${item#*:}"
  done
  [[ -n $fallback ]] || return 1
  printf '%s' "$fallback"
}

mn_parse_args() {
  local arg name value known setting
  while (($#)); do
    arg="$1"
    shift
    case "$arg" in
      -h | --help) MN_HELP=1; continue ;;
      -n | --dry_run | --dry-run) DRY_RUN=1; continue ;;
      --*=*) name="${arg%%=*}"; value="${arg#*=}" ;;
      --*) (($#)) || mn_die "flag $arg needs a value"; name="$arg"; value="$1"; shift ;;
      *) mn_die "unexpected argument '$arg' (see --help)" ;;
    esac
    name="${name#--}"
    name="${name//-/_}"
    name="${name^^}"
    known=0
    for setting in "${MN_SETTINGS[@]}"; do [[ $setting == "$name" ]] && known=1; done
    ((known)) || mn_die "unknown flag --${name,,} (see --help)"
    printf -v "$name" '%s' "$value"
  done
}

mn_is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# Reads the realized noise of every noise directory that is not a fraction into MN_LEVEL
# (run from the repository root, before anything is launched).
mn_noise_levels() {
  local ds noise manifest level
  for ds in "${MN_DATASETS[@]}"; do
    for noise in "${MN_NOISES[@]}"; do
      [[ $noise =~ ^[0-9]*\.?[0-9]+$ ]] && continue
      manifest="$DATA_ROOT/$ds/$noise/manifest.json"
      [[ -f $manifest ]] || mn_die "noise '$noise' is not a fraction and $manifest is missing; build it with data_tools/make_noisy_data.py --noise_type=human"
      level="$(sed -n 's/^ *"realized_noise": *\([0-9.eE+-]*\).*/\1/p' "$manifest")"
      [[ -n $level ]] || mn_die "$manifest has no realized_noise"
      MN_LEVEL[$ds/$noise]="$level"
    done
  done
}

mn_settings() {
  : "${NUM_GPUS:=1}"
  : "${GPUS_PER_RUN:=$MN_DEFAULT_GPUS_PER_RUN}"
  mn_is_uint "$NUM_GPUS" && ((NUM_GPUS > 0)) || mn_die "NUM_GPUS must be a positive integer, not '$NUM_GPUS'"
  [[ $GPUS_PER_RUN == 1 || $GPUS_PER_RUN == 2 ]] || mn_die "GPUS_PER_RUN must be 1 or 2"
  if [[ -z ${MAX_PARALLEL:-} ]]; then
    MAX_PARALLEL=$((NUM_GPUS / GPUS_PER_RUN))
    ((MAX_PARALLEL > 0)) || MAX_PARALLEL=1
  fi
  mn_is_uint "$MAX_PARALLEL" || mn_die "MAX_PARALLEL must be an integer >= 0, not '$MAX_PARALLEL'"
  : "${DATASETS:=cifar10 cifar100}"
  : "${NOISE_FRACTIONS:=0.2 0.4 0.8}"
  : "${METHODS:=${MN_ORIGINAL_METHODS[*]}}"
  : "${OUTPUT_ROOT:=cifar_models}"
  : "${DATA_ROOT:=data}"
  : "${MENTORNET_ROOT:=mentornet_models/models}"
  : "${MAX_STEPS:=$MN_DEFAULT_MAX_STEPS}"
  : "${EXTRA_TRAIN_FLAGS:=}"
  : "${EXTRA_EVAL_FLAGS:=}"
  EVAL_TIMEOUT_SECS="${EVAL_TIMEOUT_SECS-2700}"
  : "${EVAL_GRACE_SECS:=1800}"
  : "${SKIP_EVAL:=0}"
  : "${PYTHON:=python}"
  : "${DRY_RUN:=0}"
  mn_is_uint "$MAX_STEPS" || mn_die "MAX_STEPS must be an integer, not '$MAX_STEPS'"
  mn_is_uint "$EVAL_GRACE_SECS" || mn_die "EVAL_GRACE_SECS must be an integer"
  mn_list MN_DATASETS "$DATASETS"
  mn_list MN_NOISES "$NOISE_FRACTIONS"
  mn_list MN_METHODS "$METHODS"
  read -ra MN_PYTHON <<<"$PYTHON"
  read -ra MN_EXTRA_TRAIN <<<"$EXTRA_TRAIN_FLAGS"
  read -ra MN_EXTRA_EVAL <<<"$EXTRA_EVAL_FLAGS"
  local ds method
  for ds in "${MN_DATASETS[@]}"; do
    [[ $ds == cifar10 || $ds == cifar100 ]] || mn_die "unknown dataset '$ds' (cifar10, cifar100)"
  done
  for method in "${MN_METHODS[@]}"; do
    [[ -n ${MN_PATH[$method]+x} ]] || mn_die "unknown method '$method'; the table has: ${MN_TABLE_ORDER[*]}"
  done
  ((${#MN_DATASETS[@]} && ${#MN_NOISES[@]} && ${#MN_METHODS[@]})) || mn_die "nothing to run"
}

# mn_train_cmd DATASET NOISE METHOD DEVICE: the training command, into array MN_CMD.
mn_train_cmd() {
  local ds="$1" noise="$2" method="$3" device="$4" run_dir script pct burn fixed_flag
  local level="${MN_LEVEL[$ds/$noise]:-}"
  local -a mentor_flags=()
  run_dir="$OUTPUT_ROOT/$ds/$MN_STUDENTNET/$noise/$method"
  if [[ ${MN_PATH[$method]} == - ]]; then
    script=code/cifar_train_baseline.py
  else
    script=code/cifar_train_mentornet.py
    pct="$(mn_per_noise "${MN_PERCENTILE[$method]}" "$noise" "$level")" ||
      mn_die "table: no loss_p_percentile for $method at noise $noise"
    burn="$(mn_per_noise "${MN_BURN_IN[$method]}" "$noise" "$level")" ||
      mn_die "table: no burn_in_epoch for $method at noise $noise"
    case "$(mn_per_noise "${MN_FIXED[$method]}" "$noise" "$level")" in
      yes | true | 1) fixed_flag=--fixed_epoch_after_burn_in ;;
      no | false | 0) fixed_flag=--nofixed_epoch_after_burn_in ;;
      *) mn_die "table: fixed_epoch_after_burn_in of $method must be yes or no" ;;
    esac
    mentor_flags=(
      --trained_mentornet_dir="$MENTORNET_ROOT/${MN_PATH[$method]}"
      --loss_p_percentile="$pct"
      "$fixed_flag"
      --burn_in_epoch="$burn"
      --example_dropout_rates="${MN_DROPOUT[$method]}"
    )
  fi
  MN_CMD=("${MN_PYTHON[@]}" "$script" --dataset_name="$ds" "${mentor_flags[@]}"
    --data_dir="$DATA_ROOT/$ds/$noise" --train_log_dir="$run_dir/train"
    --studentnet="$MN_STUDENTNET" "${MN_TRAIN_FLAGS[@]}" --max_number_of_steps="$MAX_STEPS"
    --device_id="$device" "${MN_EXTRA_TRAIN[@]}")
}

# mn_eval_cmd DATASET NOISE METHOD DEVICE: the eval command, into array MN_EVAL_CMD.
mn_eval_cmd() {
  local ds="$1" noise="$2" method="$3" device="$4" run_dir
  local -a timeout=()
  run_dir="$OUTPUT_ROOT/$ds/$MN_STUDENTNET/$noise/$method"
  [[ -n $EVAL_TIMEOUT_SECS ]] && timeout=(--eval_timeout_secs="$EVAL_TIMEOUT_SECS")
  MN_EVAL_CMD=("${MN_PYTHON[@]}" code/cifar_eval.py --dataset_name="$ds"
    --data_dir="$DATA_ROOT/$ds/val" --checkpoint_dir="$run_dir/train"
    --eval_dir="$run_dir/eval_val" --studentnet="$MN_STUDENTNET" --device_id="$device"
    --output_csv_file="$run_dir/eval_val/accuracy.csv" "${timeout[@]}" "${MN_EXTRA_EVAL[@]}")
}

# Prints a command on one line, quoting only the words that need it.
mn_print_cmd() {
  local word out=""
  for word in "$@"; do
    if [[ ! $word =~ ^[][A-Za-z0-9_./:=,+@%-]+$ ]]; then
      word="'${word//\'/\'\\\'\'}'"
    fi
    out+="${out:+ }$word"
  done
  printf '%s\n' "$out"
}

# mn_free_slot: waits until one of MAX_PARALLEL slots is free; its index into MN_SLOT.
mn_free_slot() {
  local s pid
  while true; do
    for ((s = 0; s < MAX_PARALLEL; s++)); do
      pid="${MN_SLOT_PID[s]:-}"
      if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
        MN_SLOT=$s
        return 0
      fi
    done
    wait -n 2>/dev/null || sleep 1
  done
}

# mn_launch RUN_DIR LABEL: runs MN_CMD and MN_EVAL_CMD (if any) in the background.
# Once training ends, the eval job gets EVAL_GRACE_SECS to see the last checkpoint and stop
# by itself (cifar_eval.py gives up after --eval_timeout_secs without a new checkpoint);
# after that it is stopped. The run's exit status goes to MN_STATUS_FILE.
mn_launch() {
  local run_dir="$1" label="$2"
  mkdir -p "$run_dir" || mn_die "cannot create $run_dir"
  (
    tpid="" epid=""
    trap 'kill -TERM ${tpid:+"$tpid"} ${epid:+"$epid"} 2>/dev/null; exit 143' TERM INT
    "${MN_CMD[@]}" >"$run_dir/train.log" 2>&1 &
    tpid=$!
    if ((${#MN_EVAL_CMD[@]})); then
      "${MN_EVAL_CMD[@]}" >"$run_dir/eval.log" 2>&1 &
      epid=$!
    fi
    wait "$tpid"
    rc=$?
    erc=-
    if [[ -n $epid ]]; then
      waited=0
      while ((rc == 0 && waited < EVAL_GRACE_SECS)) && kill -0 "$epid" 2>/dev/null; do
        sleep 1
        waited=$((waited + 1))
      done
      kill -TERM "$epid" 2>/dev/null
      wait "$epid"
      erc=$?
    fi
    echo "$rc $erc $label" >>"$MN_STATUS_FILE"
    exit "$rc"
  ) &
  MN_SLOT_PID[MN_SLOT]=$!
  MN_ALL_PIDS+=("$!")
}

mn_on_signal() {
  local pid
  echo "${0##*/}: interrupted, stopping the runs" >&2
  for pid in "${MN_ALL_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait
  exit 130
}

mn_main() {
  mn_parse_args "$@"
  mn_load_table
  if ((${MN_HELP:-0})); then
    mn_usage
    exit 0
  fi
  mn_settings
  cd "$MN_REPO_ROOT" || mn_die "cannot cd to $MN_REPO_ROOT"
  mn_noise_levels
  local total=$((${#MN_DATASETS[@]} * ${#MN_NOISES[@]} * ${#MN_METHODS[@]}))
  local i=0 method ds noise run_dir label train_dev eval_dev base
  if ((DRY_RUN)); then
    echo "# $MN_STUDENTNET: $total runs, NUM_GPUS=$NUM_GPUS GPUS_PER_RUN=$GPUS_PER_RUN MAX_PARALLEL=$MAX_PARALLEL; run from $MN_REPO_ROOT"
  else
    MN_STATUS_FILE="$(mktemp "${TMPDIR:-/tmp}/mentornet_runs.XXXXXX")" || mn_die "mktemp failed"
    trap mn_on_signal INT TERM
    export PYTHONPATH="$MN_REPO_ROOT/code${PYTHONPATH:+:$PYTHONPATH}"
  fi
  for method in "${MN_METHODS[@]}"; do
    for ds in "${MN_DATASETS[@]}"; do
      for noise in "${MN_NOISES[@]}"; do
        if ((DRY_RUN || MAX_PARALLEL == 0)); then
          MN_SLOT=$((MAX_PARALLEL ? i % MAX_PARALLEL : i))
        else
          mn_free_slot
        fi
        base=$((MN_SLOT * GPUS_PER_RUN))
        train_dev=$((base % NUM_GPUS))
        eval_dev=$(((base + GPUS_PER_RUN - 1) % NUM_GPUS))
        i=$((i + 1))
        run_dir="$OUTPUT_ROOT/$ds/$MN_STUDENTNET/$noise/$method"
        label="$ds noise=$noise $method"
        mn_train_cmd "$ds" "$noise" "$method" "$train_dev"
        MN_EVAL_CMD=()
        ((SKIP_EVAL)) || mn_eval_cmd "$ds" "$noise" "$method" "$eval_dev"
        if ((DRY_RUN)); then
          echo "# [$i/$total] $label: train on GPU $train_dev${MN_EVAL_CMD[*]:+, eval on GPU $eval_dev}"
          mn_print_cmd "${MN_CMD[@]}"
          ((${#MN_EVAL_CMD[@]})) && mn_print_cmd "${MN_EVAL_CMD[@]}"
          continue
        fi
        if [[ ${MN_PATH[$method]} != - && ! -e $MENTORNET_ROOT/${MN_PATH[$method]} ]]; then
          echo "warning: $MENTORNET_ROOT/${MN_PATH[$method]} does not exist" >&2
        fi
        [[ -d $DATA_ROOT/$ds/$noise ]] || echo "warning: $DATA_ROOT/$ds/$noise does not exist" >&2
        echo "[$i/$total] $(date '+%F %T') start $label: train on GPU $train_dev${MN_EVAL_CMD[*]:+, eval on GPU $eval_dev}; logs in $run_dir"
        mn_launch "$run_dir" "$label"
      done
    done
  done
  ((DRY_RUN)) && return 0
  wait
  trap - INT TERM
  local failed
  # A failed run: training failed, or its eval job failed other than by being stopped (143).
  failed="$(awk '$1 != 0 || ($2 != "-" && $2 != 0 && $2 != 143)' "$MN_STATUS_FILE")"
  echo "$(date '+%F %T') all $total runs ended; results: python commands/collect_results.py --root=$OUTPUT_ROOT"
  rm -f "$MN_STATUS_FILE"
  if [[ -n $failed ]]; then
    echo "failed runs (training exit status, eval exit status, run):" >&2
    echo "$failed" >&2
    return 1
  fi
  return 0
}
