"""`TrainConfig`, everything one StudentNet training job needs, and its record train_config.json.

The record is written by the training loop into the run's directory; every tool that reads a
run (eval job, trust report, StudentNet dump, collectors) reads it back through
`read_train_config` and merges command-line overrides with `merge_run_record`.
"""
import dataclasses
import json
import os
from typing import Optional
from typing import Tuple

from mentornet.config import defaults
from mentornet.errors import UsageError

CONFIG_FILE = "train_config.json"
CHECKPOINT_NAME = "ckpt"
# What a run can record: "auto" is always resolved to one of these before training.
RESOLVED_POLICIES = ("none", "mixed_float16", "mixed_bfloat16")
# The policy of a run whose record names none: runs recorded before --mixed_precision existed
# (and the original's) trained in float32.
UNRECORDED_POLICY = "none"
# Fields that must match when resuming from an existing train_log_dir.
RESUME_MUST_MATCH = ("studentnet", "dataset_name", "num_residual_units", "resnet_widths",
                     "curriculum")


@dataclasses.dataclass
class TrainConfig:
  """Everything a training job needs; built from the absl flags by `mentornet.cli.flags`."""
  train_log_dir: str
  data_dir: str
  dataset_name: str = "cifar10"
  studentnet: str = "resnet101"
  curriculum: str = "baseline"  # baseline | mentornet | data_parameters | mentormix
  batch_size: int = 128
  learning_rate: float = 0.1
  learning_rate_decay_factor: float = 0.1
  num_epochs_per_decay: float = 50
  max_number_of_steps: int = defaults.ORIGINAL_RESNET_STEPS
  save_summaries_secs: float = 120
  save_interval_secs: float = 1200
  num_residual_units: int = defaults.RESNET_DEFAULT_UNITS
  resnet_widths: Tuple[int, ...] = defaults.RESNET_DEFAULT_WIDTHS
  random_seed: int = 0
  # Global steps where the learning rate drops 10x, for every curriculum; None: the original's.
  learning_rate_boundaries: Optional[Tuple[int, ...]] = None
  jit_compile: bool = False
  # "auto": mixed_bfloat16 on CPU-only machines with bf16 instructions, else float32.
  mixed_precision: str = defaults.DEFAULT_MIXED_PRECISION
  # ResNet batch norm trains with TensorFlow's fused kernel (same results, fewer ops).
  fused_batch_norm: bool = defaults.FUSED_BATCH_NORM_DEFAULT
  # Train steps per `fit` execution (one host round-trip each); lowered to keep the budget exact.
  steps_per_execution: int = 1
  # TensorFlow op thread pools (0: TensorFlow's default, one thread per core).
  intra_op_threads: int = 0
  inter_op_threads: int = 0
  strategy: str = "auto"
  num_gpus: int = 0
  cpu_replicas: int = 0
  sync_batch_norm: bool = True
  cifarnet_fc_weight_decay: float = 0.0
  # Training-image augmentation (defaults.AUGMENTATIONS): the original's pad, crop and flip, or
  # flip-only / none for reduced regimes.
  augmentation: str = "crop_flip"
  max_checkpoints_to_keep: int = 10
  verbose: int = 1
  # Extra curriculum settings recorded in train_config.json (not compared on resume).
  curriculum_settings: Optional[dict] = None
  # At the end of the run, write <train_log_dir>/trust_report.csv (+ _summary.json): one
  # inference pass over the training split (see `mentornet.analysis.trust_report`).
  trust_report: bool = True


def config_record(config):
  """The JSON-ready dict of a `TrainConfig` (tuples as lists)."""
  record = dataclasses.asdict(config)
  record["resnet_widths"] = list(config.resnet_widths)
  if config.learning_rate_boundaries:
    record["learning_rate_boundaries"] = list(config.learning_rate_boundaries)
  return record


def read_train_config(run_dir):
  """The run directory's train_config.json as a dict ({} when absent); `UsageError` when it
  cannot be read."""
  path = os.path.join(run_dir, CONFIG_FILE)
  if not os.path.exists(path):
    return {}
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise UsageError(f"cannot read {path}: {e}") from e


def _widths_text(value):
  return ",".join(str(int(w)) for w in (value.split(",") if isinstance(value, str) else value))


def merge_run_record(record, given, defaults_of_flags, contradiction="override"):
  """The values of `defaults_of_flags`'s names for a tool reading a run.

  Args:
    record: the run's train_config.json (`read_train_config`).
    given: {name: value} of the flags the user gave on the command line.
    defaults_of_flags: {name: value} of every mergeable flag at its default.
    contradiction: "override" (a given flag wins over the record) or "error" (a given flag that
      differs from the record raises `UsageError`: the tool must see the run as it trained).
  Returns:
    {name: value}: the given flag, else the record's value, else the default.
  """
  merged = {}
  for name, default in defaults_of_flags.items():
    recorded = record.get(name)
    if name in given:
      value = given[name]
      if contradiction == "error" and recorded is not None:
        same = (_widths_text(value) == _widths_text(recorded) if name == "resnet_widths"
                else value == recorded)
        if not same:
          shown = _widths_text(recorded) if name == "resnet_widths" else recorded
          raise UsageError(f"--{name}={value} contradicts the run's {CONFIG_FILE} ({name}="
                           f"{shown}); leave the flag out")
      merged[name] = value
    elif recorded is not None:
      merged[name] = recorded
    else:
      merged[name] = default
  return merged


def config_from_record(record, **overrides):
  """A `TrainConfig` from a train_config.json record (unknown keys dropped) and overrides."""
  fields = {field.name for field in dataclasses.fields(TrainConfig)}
  values = {key: value for key, value in {**record, **overrides}.items() if key in fields}
  values["resnet_widths"] = tuple(int(w) for w in (
      values["resnet_widths"].split(",") if isinstance(values.get("resnet_widths"), str)
      else values.get("resnet_widths", defaults.RESNET_DEFAULT_WIDTHS)))
  if values.get("learning_rate_boundaries"):
    values["learning_rate_boundaries"] = tuple(values["learning_rate_boundaries"])
  return TrainConfig(**values)


def keras_policy_name(policy):
  """The Keras dtype-policy name of a resolved --mixed_precision value ("none": float32)."""
  return "float32" if policy == "none" else policy


def recorded_policy(record):
  """The resolved policy a run trained in, from its train_config.json record (a dict): its
  `mixed_precision`, or `UNRECORDED_POLICY` (float32) when the record has none (or an
  unresolved "auto", e.g. a `TrainConfig` default filled in for a missing field)."""
  policy = record.get("mixed_precision")
  return policy if policy in RESOLVED_POLICIES else UNRECORDED_POLICY


def run_policy(run_dir):
  """The resolved policy recorded in `run_dir`'s train_config.json (float32 when absent)."""
  return recorded_policy(read_train_config(run_dir))
