# shellcheck shell=bash
# Copyright 2018 Google Inc. and the MentorNet for TensorFlow 2 authors.
# Licensed under the Apache License, Version 2.0.
#
# Shared set-up of the MentorNet-learning pipelines (commands/training_mentornet_command.sh,
# commands/train_mentornet_dd_small.sh). Source it; do not run it. It moves to the repository
# root, puts code/ on PYTHONPATH, quiets TensorFlow's C++ log, reads PY (array) from
# $PYTHON [python], and defines `run CMD...`: prints `+ CMD`, runs it and prints its seconds,
# or only prints it when DRY_RUN is set.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
export PYTHONPATH="$REPO_ROOT/code${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
read -ra PY <<<"${PYTHON:-python}"

run() {
  echo "+ $*"
  if [[ -z ${DRY_RUN:-} ]]; then
    local start=$SECONDS
    "$@"
    echo "  ($((SECONDS - start)) s)"
  fi
}
