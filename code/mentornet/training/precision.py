"""Mixed precision: which Keras policy a run uses, resolved once and recorded.

`--mixed_precision=auto` picks `mixed_bfloat16` on a machine with no GPU whose CPU has bfloat16
instructions and float32 everywhere else; the resolved policy is what train_config.json records.
"""
import dataclasses

import keras
import tensorflow as tf


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


def keras_policy_name(policy):
  """The Keras dtype-policy name of a resolved --mixed_precision value ("none": float32)."""
  return "float32" if policy == "none" else policy


def apply_mixed_precision(config):
  """Sets Keras's global dtype policy for `config`; returns the config with the policy resolved
  (what ran is what train_config.json records)."""
  config = dataclasses.replace(config,
                               mixed_precision=resolve_mixed_precision(config.mixed_precision))
  keras.mixed_precision.set_global_policy(keras_policy_name(config.mixed_precision))
  return config
