"""The StudentNet dump: per-example losses of a StudentNet, the input of a data-driven MentorNet.

For each chosen checkpoint of a cifar_train_*.py training directory it restores the StudentNet
(as the evaluation job does: `tf.train.Checkpoint(student=...)`), runs it on the training
records without augmentation (`data.make_dataset(..., training=False)`; batch norm with each
batch's statistics, as the original, unless batch_norm_mode="inference") and writes, for a
seeded random subset of the examples, one line per example and checkpoint:

  <id> <epoch> <noisy_label> <clean_label> <loss>

where loss is the cross-entropy with the NOISY (training) label and epoch the checkpoint's
percent of training, floor(step / max_number_of_steps * 100) clipped to 99 (in float64, as the
train step and the original compute it). The records must
carry clean labels and ids (data_tools/make_noisy_data.py writes them). This is what the
original's `cifar_eval.py` extract-features mode attempted (it called a data function that
never existed).

The architecture, the precision (`mixed_precision`, float32 when not recorded) and
max_number_of_steps come from the training directory's train_config.json; flags may restate
them (a conflicting architecture is an error) or, for max_number_of_steps, override it (a
nominal budget when the run stopped early).
"""
import dataclasses
import os
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf

from mentornet.analysis import evaluation
from mentornet.config import datasets
from mentornet.config import defaults
from mentornet.config import train_config
from mentornet.curricula import base as curriculum
from mentornet.data import records
from mentornet.errors import UsageError
from mentornet.models import studentnets
from mentornet.training import checkpoints

DEFAULT_BATCH_SIZE = 250
# train: batch norm with each batch's statistics, as the original's extraction built the ResNet
# (mode='train'); inference: with the moving averages, as the eval job.
BATCH_NORM_MODES = ("train", "inference")


@dataclasses.dataclass(frozen=True)
class DumpSettings:
  """What the dump needs to rebuild the StudentNet and date its checkpoints."""
  studentnet: str
  dataset_name: str
  num_residual_units: int
  resnet_widths: Tuple[int, ...]
  max_number_of_steps: int
  # The resolved policy the run trained in, which the dump computes in ("none": float32).
  mixed_precision: str = train_config.UNRECORDED_POLICY


def resolve_settings(checkpoint_dir, studentnet=None, dataset_name=None,
                     num_residual_units=None, resnet_widths=None, max_number_of_steps=None,
                     log=print):
  """Merges train_config.json with the flags given (None = not given) into `DumpSettings`."""
  config = train_config.read_train_config(checkpoint_dir)
  given = {"studentnet": studentnet, "dataset_name": dataset_name,
           "num_residual_units": num_residual_units,
           "resnet_widths": None if resnet_widths is None else list(resnet_widths)}
  values = train_config.merge_run_record(
      config, {name: value for name, value in given.items() if value is not None},
      {"studentnet": "resnet101", "dataset_name": "cifar10",
       "num_residual_units": defaults.RESNET_DEFAULT_UNITS,
       "resnet_widths": list(defaults.RESNET_DEFAULT_WIDTHS)}, contradiction="error")
  recorded_steps = config.get("max_number_of_steps")
  if max_number_of_steps is not None:
    if max_number_of_steps <= 0:
      raise UsageError(f"--max_number_of_steps must be positive, got {max_number_of_steps}")
    if recorded_steps is not None and recorded_steps != max_number_of_steps:
      log(f"note: epochs use --max_number_of_steps={max_number_of_steps} (the run recorded "
          f"{recorded_steps})")
    steps = max_number_of_steps
  elif recorded_steps is not None:
    steps = int(recorded_steps)
  else:
    raise UsageError(f"--checkpoint_dir={checkpoint_dir} has no {train_config.CONFIG_FILE}; "
                     "give --max_number_of_steps (and the StudentNet flags) of the run")
  datasets.get_dataset_info(values["dataset_name"])
  studentnets.get_studentnet_spec(values["studentnet"])
  return DumpSettings(values["studentnet"], values["dataset_name"],
                      int(values["num_residual_units"]), tuple(values["resnet_widths"]),
                      int(steps), train_config.recorded_policy(config))


def checkpoint_epoch(step, max_number_of_steps):
  """The checkpoint's epoch feature, as the train step computes it (`training_epoch`)."""
  return int(curriculum.training_epoch(step, max_number_of_steps))


def select_checkpoints(checkpoint_dir, steps=None):
  """Checkpoint paths of `checkpoint_dir`: the latest, or those at `steps` (in that order)."""
  if not os.path.isdir(checkpoint_dir):
    raise UsageError(f"--checkpoint_dir={checkpoint_dir} does not exist")
  state = tf.train.get_checkpoint_state(checkpoint_dir)
  # get_checkpoint_state already resolves the paths against checkpoint_dir.
  paths = list(state.all_model_checkpoint_paths) if state else []
  if not paths:
    raise UsageError(f"--checkpoint_dir={checkpoint_dir} holds no checkpoint")
  if not steps:
    return [tf.train.latest_checkpoint(checkpoint_dir) or paths[-1]]
  by_step = {checkpoints.checkpoint_step(p): p for p in paths}
  missing = [s for s in steps if s not in by_step]
  if missing:
    available = ", ".join(map(str, sorted(by_step)))
    raise UsageError(f"--checkpoint_dir={checkpoint_dir} has no checkpoint at step "
                     f"{', '.join(map(str, missing))} (it has {available})")
  return [by_step[s] for s in steps]


def choose_subset(num_examples, subset_fraction=1.0, max_examples=0, seed=0):
  """Sorted positions int64 [k] of a seeded random subset of range(num_examples).

  k = round(subset_fraction * num_examples), capped at max_examples when that is > 0.
  """
  if not 0.0 < subset_fraction <= 1.0:
    raise UsageError(f"--subset_fraction={subset_fraction:g} is outside (0, 1]")
  if max_examples < 0:
    raise UsageError(f"--max_examples must be >= 0 (0: no cap), got {max_examples}")
  size = int(round(subset_fraction * num_examples))
  if max_examples:
    size = min(size, max_examples)
  size = max(1, min(size, num_examples))
  chosen = np.random.default_rng(seed).choice(num_examples, size=size, replace=False)
  return np.sort(chosen).astype(np.int64)


def _check_clean_labels(split, dataset_name, data_dir):
  """Raises `UsageError` if the first record lacks a clean label (cheap early check)."""
  info = datasets.get_dataset_info(dataset_name)
  first = next(iter(tf.data.TFRecordDataset(list(split.files[:1])).take(1)), None)
  if first is None:
    raise UsageError(f"--data_dir={data_dir} holds no training records")
  if int(records.parse_example(first, info)["clean_label"]) == records.MISSING:
    raise UsageError(f"--data_dir={data_dir}: the records carry no clean label "
                     f"({records.CLEAN_LABEL_KEY}); build them with data_tools/"
                     "make_noisy_data.py, which records clean labels and ids")


def per_example_losses(student, dataset, example_losses=None):
  """One ordered pass: dict of int64 [n] `id`, int32 [n] `noisy_label`, `clean_label`, and
  float64 [n] `loss` (cross-entropy of the noisy label)."""

  values = evaluation.per_example_pass(student, dataset, example_losses)
  return {"id": values["id"], "noisy_label": values["label"],
          "clean_label": values["clean_label"], "loss": values["loss"].astype(np.float64)}


def format_rows(epoch, values, positions):
  """Lines 'id epoch noisy_label clean_label loss' of the examples at `positions`."""
  return [f"{values['id'][i]} {epoch} {values['noisy_label'][i]} {values['clean_label'][i]} "
          f"{values['loss'][i]:.6f}\n" for i in positions]


def dump_studentnet(checkpoint_dir, data_dir, output_csv, settings,
                    checkpoint_steps: Optional[Sequence[int]] = None, subset_fraction=1.0,
                    max_examples=0, seed=0, batch_size=DEFAULT_BATCH_SIZE, split_name="train",
                    batch_norm_mode="train", log=print):
  """Writes the dump CSV; returns a summary dict (rows, checkpoints, epochs, clean fraction).

  Args:
    checkpoint_dir: a cifar_train_*.py --train_log_dir.
    data_dir: TFRecords with clean labels and ids (<dataset>_<split_name>-*).
    output_csv: the CSV to write (replaced atomically).
    settings: `DumpSettings` (see `resolve_settings`).
    checkpoint_steps: steps of the checkpoints to dump; None/empty: the latest.
    subset_fraction, max_examples, seed: the subset of examples (the same for every
      checkpoint), see `choose_subset`.
    batch_norm_mode: one of BATCH_NORM_MODES; in `train` the losses depend on the batch, i.e.
      on batch_size (the original's cifar_eval.py batch was 25).
  """
  if batch_norm_mode not in BATCH_NORM_MODES:
    raise UsageError(f"--batch_norm_mode={batch_norm_mode} is not one of "
                     f"{', '.join(BATCH_NORM_MODES)}")
  if not output_csv:
    raise UsageError("--output_csv is required")
  if batch_size <= 0:
    raise UsageError(f"--batch_size must be positive, got {batch_size}")
  paths = select_checkpoints(checkpoint_dir, checkpoint_steps)
  student_config = studentnets.StudentNetConfig(
      num_residual_units=settings.num_residual_units, resnet_widths=settings.resnet_widths,
      sync_batch_norm=False)
  evaluator = evaluation.CheckpointEvaluator(settings.studentnet, settings.dataset_name,
                                             data_dir, split_name, batch_size, student_config,
                                             mixed_precision=settings.mixed_precision)
  _check_clean_labels(evaluator.split, settings.dataset_name, data_dir)
  example_losses = evaluation.make_example_losses(
      evaluator.student, batch_norm_training=batch_norm_mode == "train")
  positions = choose_subset(evaluator.split.num_examples, subset_fraction, max_examples, seed)
  lines = []
  epochs = []
  clean_fraction = None
  for path in paths:
    step = checkpoints.checkpoint_step(path)
    try:
      evaluator.checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      raise UsageError(f"cannot restore {path} into a {settings.studentnet} of "
                       f"{settings.num_residual_units} units, widths "
                       f"{','.join(map(str, settings.resnet_widths))}: "
                       f"{str(e).splitlines()[0][:160]}") from e
    values = per_example_losses(evaluator.student, evaluator.dataset, example_losses)
    if values["loss"].shape[0] != evaluator.split.num_examples:
      raise UsageError(f"--data_dir={data_dir}: read {values['loss'].shape[0]} examples, the "
                       f"split lists {evaluator.split.num_examples}")
    if np.any(values["clean_label"][positions] == records.MISSING):
      raise UsageError(f"--data_dir={data_dir}: some records carry no clean label "
                       f"({records.CLEAN_LABEL_KEY}); rebuild them with make_noisy_data.py")
    if np.any(values["id"] == records.MISSING):
      values["id"] = np.where(values["id"] == records.MISSING,
                              np.arange(values["id"].shape[0]), values["id"])
      log("note: the records carry no ids; their positions in the split are used")
    epoch = checkpoint_epoch(step, settings.max_number_of_steps)
    epochs.append(epoch)
    lines.extend(format_rows(epoch, values, positions))
    clean = values["noisy_label"][positions] == values["clean_label"][positions]
    clean_fraction = float(np.mean(clean))
    losses = values["loss"][positions]
    noisy_mean = np.mean(losses[~clean]) if (~clean).any() else float("nan")
    log(f"{path}: step {step} epoch {epoch}: {len(positions)} examples, mean loss "
        f"{np.mean(losses):.4f} (clean {np.mean(losses[clean]):.4f}, noisy {noisy_mean:.4f})")
  directory = os.path.dirname(os.path.abspath(output_csv))
  os.makedirs(directory, exist_ok=True)
  temp_path = output_csv + ".tmp"
  with open(temp_path, "w", encoding="utf-8") as f:
    f.writelines(lines)
  os.replace(temp_path, output_csv)
  return {"output_csv": output_csv, "rows": len(lines), "examples": int(len(positions)),
          "checkpoints": paths, "epochs": epochs, "clean_fraction": clean_fraction}
