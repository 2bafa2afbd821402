"""Mixed precision: which Keras policy a run uses, resolved once and recorded.

`--mixed_precision=auto` picks `mixed_bfloat16` on a machine with no GPU whose CPU has bfloat16
instructions and float32 everywhere else; the resolved policy is what train_config.json records,
and every tool that reads the run (resume, eval job, trust report, StudentNet dump) computes in
that recorded policy (`config.train_config.run_policy`, `keras_policy`).
"""
import contextlib
import dataclasses

import keras
import tensorflow as tf

from mentornet.config import train_config
from mentornet.config.train_config import keras_policy_name


def cpu_has_bf16_instructions(cpuinfo_path="/proc/cpuinfo"):
  """True when the CPU reports bfloat16 arithmetic (the avx512_bf16 or amx_bf16 flag of Linux's
  /proc/cpuinfo); False where that file is absent or unreadable."""
  try:
    with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith("flags"):
          flags_of_cpu = line.split(":", 1)[-1].split()
          return "avx512_bf16" in flags_of_cpu or "amx_bf16" in flags_of_cpu
  except OSError:
    pass
  return False


def resolve_mixed_precision(policy, cpuinfo_path="/proc/cpuinfo"):
  """The policy a run uses: `policy` itself, or for "auto" "mixed_bfloat16" on a machine with
  no GPU whose CPU has bfloat16 instructions (1.3x to 1.6x faster steps on this project's CPUs,
  docs/speed.md) and "none" (float32) everywhere else, GPUs included (the original's
  precision; mixed precision on a GPU stays a choice: --mixed_precision=mixed_float16)."""
  if policy != "auto":
    return policy
  if tf.config.list_physical_devices("GPU"):
    return "none"
  return "mixed_bfloat16" if cpu_has_bf16_instructions(cpuinfo_path) else "none"


def apply_mixed_precision(config):
  """Sets Keras's global dtype policy for `config`; returns the config with the policy resolved
  (what ran is what train_config.json records)."""
  config = dataclasses.replace(config,
                               mixed_precision=resolve_mixed_precision(config.mixed_precision))
  keras.mixed_precision.set_global_policy(keras_policy_name(config.mixed_precision))
  return config


def keep_recorded_policy(config):
  """`config` for a run that may resume: --mixed_precision=auto becomes the policy recorded in
  `train_log_dir` when a record exists, so a resumed run continues in the precision it trained
  in whatever the machine; an explicit policy is kept (the training loop records the change)."""
  if config.mixed_precision != "auto":
    return config
  record = train_config.read_train_config(config.train_log_dir)
  if not record:
    return config
  return dataclasses.replace(config, mixed_precision=train_config.recorded_policy(record))


@contextlib.contextmanager
def keras_policy(policy):
  """Sets Keras's global dtype policy to the resolved `policy` inside the block (models built
  there keep it) and restores the previous global policy after it."""
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(keras_policy_name(policy))
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(previous)
