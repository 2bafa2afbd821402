"""Runs a StudentNet training job: strategy, data, model, checkpoints, resume, summaries.

`run_training(config, make_curriculum)` serves the baseline, every MentorNet and the data
parameters curriculum alike. Rerunning a killed job with the same command restores the latest
checkpoint in `train_log_dir` (step, optimizer slots, curriculum state such as the loss moving
average) and continues until `max_number_of_steps`.
"""
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
from typing import Optional, Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from mentornet import data as data_lib
from mentornet import distribution
from mentornet import studentnets
from mentornet import trainer as trainer_lib
from mentornet.errors import NonFiniteLossError
from mentornet.errors import UsageError

CHECKPOINT_NAME = "ckpt"
CONFIG_FILE = "train_config.json"
# Keras mixed-precision policies a run may ask for ("none": float32; "auto": see
# `resolve_mixed_precision`), and the help of every --mixed_precision flag.
MIXED_PRECISION_POLICIES = ("auto", "none", "mixed_float16", "mixed_bfloat16")
MIXED_PRECISION_HELP = ("Keras mixed-precision policy. auto: mixed_bfloat16 on a CPU-only "
                        "machine with bf16 instructions, float32 elsewhere (GPUs included); "
                        "none: float32.")
# Fields that must match when resuming from an existing train_log_dir.
RESUME_MUST_MATCH = ("studentnet", "dataset_name", "num_residual_units", "resnet_widths",
                     "curriculum")


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
  README "Speed") and "none" (float32) everywhere else, GPUs included (the original's
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


@dataclasses.dataclass
class TrainConfig:
  """Everything a training job needs; built from the absl flags by `flags_lib`."""
  train_log_dir: str
  data_dir: str
  dataset_name: str = "cifar10"
  studentnet: str = "resnet101"
  curriculum: str = "baseline"  # baseline | mentornet | data_parameters
  batch_size: int = 128
  learning_rate: float = 0.1
  learning_rate_decay_factor: float = 0.1
  num_epochs_per_decay: float = 50
  max_number_of_steps: int = 39000
  save_summaries_secs: float = 120
  save_interval_secs: float = 1200
  num_residual_units: int = studentnets.RESNET_DEFAULT_UNITS
  resnet_widths: Tuple[int, ...] = studentnets.RESNET_DEFAULT_WIDTHS
  random_seed: int = 0
  # Global steps where the learning rate drops 10x, for every curriculum; None: the original's.
  learning_rate_boundaries: Optional[Tuple[int, ...]] = None
  jit_compile: bool = False
  # "auto": mixed_bfloat16 on CPU-only machines with bf16 instructions, else float32.
  mixed_precision: str = "auto"
  # ResNet batch norm trains with TensorFlow's fused kernel (same results, fewer ops).
  fused_batch_norm: bool = studentnets.FUSED_BATCH_NORM_DEFAULT
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
  # Training-image augmentation (data.AUGMENTATIONS): the original's pad, crop and flip, or
  # flip-only / none for reduced regimes.
  augmentation: str = "crop_flip"
  max_checkpoints_to_keep: int = 10
  verbose: int = 1
  # Extra curriculum settings recorded in train_config.json (not compared on resume).
  curriculum_settings: Optional[dict] = None
  # At the end of the run, write <train_log_dir>/trust_report.csv (+ _summary.json): one
  # inference pass over the training split (see `mentornet.trust_report`).
  trust_report: bool = True


def _read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def check_resume_compatible(config):
  """Refuses to reuse a train_log_dir written by a different kind of run (nothing touched)."""
  path = os.path.join(config.train_log_dir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  previous = _read_json(path)
  current = _config_record(config)
  for key in RESUME_MUST_MATCH:
    if key in previous and previous[key] != current[key]:
      raise UsageError(
          f"--train_log_dir={config.train_log_dir} holds a run with {key}={previous[key]!r}, "
          f"not {current[key]!r}; use a new --train_log_dir")


def _record_with_changes(config, resumed_from):
  """The train_config.json record of `config`, keeping the earlier record's `changes` list and
  adding {"step", "changed": {field: [old, new]}} (also printed) when a resumed run's fields
  differ. RESUME_MUST_MATCH fields never get here (`check_resume_compatible` refuses them)."""
  record = _config_record(config)
  path = os.path.join(config.train_log_dir, CONFIG_FILE)
  previous = _read_json(path) if os.path.exists(path) else {}
  changes = list(previous.pop("changes", []))
  changed = {key: [previous[key], value] for key, value in record.items()
             if key in previous and previous[key] != value}
  if changed:
    changes.append({"step": resumed_from, "changed": changed})
    shown = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changed.items())
    print(f"note: resuming at step {resumed_from} with changed settings: {shown} (recorded "
          f"under 'changes' in {path})", flush=True)
  if changes:
    record["changes"] = changes
  return record


def _config_record(config):
  record = dataclasses.asdict(config)
  record["resnet_widths"] = list(config.resnet_widths)
  if config.learning_rate_boundaries:
    record["learning_rate_boundaries"] = list(config.learning_rate_boundaries)
  return record


class StopAtStep(keras.callbacks.Callback):
  """Ends `fit` once the optimizer has taken `max_steps` steps (exact step budget).

  Reads the step from the device once, at the start; after that it counts the batches `fit`
  reports (the last step of each execution), so no step waits on a device read.
  """

  def __init__(self, max_steps):
    super().__init__()
    self.max_steps = max_steps
    self._step = 0
    self._epoch_start = 0

  def on_train_begin(self, logs=None):
    self._step = int(self.model.optimizer.iterations.numpy())

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch_start = self._step

  def on_train_batch_end(self, batch, logs=None):
    self._step = self._epoch_start + batch + 1
    if self._step >= self.max_steps:
      self.model.stop_training = True


def exact_steps_per_execution(requested, steps_per_epoch, remaining_steps):
  """Largest k <= `requested` dividing both the epoch and the remaining steps.

  `fit` runs whole executions of k steps, so this k keeps the step budget exact.
  """
  k = max(1, min(int(requested), steps_per_epoch, remaining_steps))
  while steps_per_epoch % k or remaining_steps % k:
    k -= 1
  return k


class CheckpointEverySecs(keras.callbacks.Callback):
  """Saves through a `tf.train.CheckpointManager` every `interval_secs` and at the end.

  Nothing is saved if training raises, so a failing job leaves earlier checkpoints intact.
  Under multi-worker training every worker must save; non-chief workers write to a scratch
  directory that is deleted.
  """

  def __init__(self, manager, interval_secs):
    super().__init__()
    self.manager = manager
    self.interval_secs = interval_secs
    self._last_save = time.time()

  def _save(self):
    if int(self.model.nonfinite_step.numpy()):
      return  # Never write weights of or after a non-finite step.
    step = int(self.model.optimizer.iterations.numpy())
    if self.manager.latest_checkpoint and self.manager.latest_checkpoint.endswith(f"-{step}"):
      return
    path = self.manager.save(checkpoint_number=step)
    self._last_save = time.time()
    logging.info("saved checkpoint %s", path)

  def on_train_batch_end(self, batch, logs=None):
    if time.time() - self._last_save >= self.interval_secs:
      self._save()

  def on_train_end(self, logs=None):
    self._save()


class StopOnNonFinite(keras.callbacks.Callback):
  """Raises `NonFiniteLossError` naming the step and the last good checkpoint as soon as the
  logs report a non-finite step (`StudentTrainer.nonfinite_step`, read from the logs the step
  returns: no extra device read). Put it before `CheckpointEverySecs`."""

  def __init__(self, manager):
    super().__init__()
    self.manager = manager

  def on_train_batch_end(self, batch, logs=None):
    bad_step = int(np.asarray((logs or {}).get("nonfinite_step", 0)).reshape(-1)[0])
    if bad_step:
      last_good = self.manager.latest_checkpoint or "none (nothing was saved)"
      raise NonFiniteLossError(
          f"NaN or Inf at step {bad_step} (loss, gradients, batch-norm statistics or weights); "
          f"training stopped with nothing saved after step {bad_step - 1}. Last good "
          f"checkpoint: {last_good}. Rerunning resumes from it (lower --learning_rate first)")


class ScalarSummaries(keras.callbacks.Callback):
  """Writes the step logs as TensorBoard scalars under the original's tags, every N secs."""

  def __init__(self, log_dir, interval_secs, enabled=True):
    super().__init__()
    self.writer = tf.summary.create_file_writer(log_dir) if enabled else None
    self.interval_secs = interval_secs
    self._last_write = 0.0

  def on_train_batch_end(self, batch, logs=None):
    if self.writer is None or time.time() - self._last_write < self.interval_secs:
      return
    self._last_write = time.time()
    step = int(self.model.optimizer.iterations.numpy())
    with self.writer.as_default(step=step):
      for name, value in (logs or {}).items():
        tags = trainer_lib.SUMMARY_TAGS.get(name, f"train/{name}")
        for tag in (tags,) if isinstance(tags, str) else tags:
          tf.summary.scalar(tag, float(np.asarray(value).reshape(-1)[0]))
    self.writer.flush()

  def on_train_end(self, logs=None):
    if self.writer is not None:
      self.writer.close()


def build_trainer(config, strategy, num_classes, num_examples, make_curriculum):
  """Creates student, curriculum, optimizer and compiled `StudentTrainer` inside `strategy`."""
  spec = studentnets.get_studentnet_spec(config.studentnet)
  student_config = studentnets.StudentNetConfig(
      num_residual_units=config.num_residual_units, resnet_widths=tuple(config.resnet_widths),
      sync_batch_norm=config.sync_batch_norm and strategy.num_replicas_in_sync > 1,
      cifarnet_fc_weight_decay=config.cifarnet_fc_weight_decay,
      fused_batch_norm=config.fused_batch_norm)
  with strategy.scope():
    student = spec.build(num_classes, student_config)
    curriculum = make_curriculum(num_examples=num_examples, num_classes=num_classes)
    schedule = spec.learning_rate_schedule(
        config.learning_rate, config.learning_rate_decay_factor, config.num_epochs_per_decay,
        num_examples, config.batch_size, with_mentornet=config.curriculum == "mentornet",
        boundaries=config.learning_rate_boundaries)
    optimizer = spec.make_optimizer(schedule)
    model = trainer_lib.StudentTrainer(student, curriculum, config.max_number_of_steps,
                                       random_seed=config.random_seed)
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    optimizer.build(student.trainable_variables)
  return model


def make_checkpoint(model):
  """The checkpoint layout shared by training, evaluation and the StudentNet dump."""
  return tf.train.Checkpoint(student=model.student, curriculum=model.curriculum,
                             optimizer=model.optimizer)


def checkpoint_step(path):
  """Global step encoded in a checkpoint path `<dir>/ckpt-<step>`."""
  return int(os.path.basename(path).rsplit("-", 1)[1])


def restore_newest_readable(checkpoint, train_log_dir):
  """Restores the newest checkpoint of `train_log_dir` that can be read; returns its path.

  An unreadable one (e.g. its data file cut short by a full disk) is passed over with a
  warning for the one before it. Returns None when there is no checkpoint; raises
  `UsageError` when one does not match the model, or when none is readable (never a silent
  start from step 0).
  """
  state = tf.train.get_checkpoint_state(train_log_dir)
  paths = list(state.all_model_checkpoint_paths) if state else []
  latest = tf.train.latest_checkpoint(train_log_dir)
  if latest and latest not in paths:
    paths.append(latest)
  for path in reversed(paths):
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
      return path
    except (AssertionError, ValueError) as e:
      raise UsageError(f"cannot resume from {path}: it does not match this model "
                       f"({str(e).splitlines()[0][:200]}); use a new --train_log_dir") from e
    except (tf.errors.OpError, IndexError) as e:
      message = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
      logging.warning("checkpoint %s is unreadable (%s)", path, message)
      print(f"warning: checkpoint {path} is unreadable ({message}); trying the one before it",
            file=sys.stderr, flush=True)
  if paths:
    raise UsageError(f"no readable checkpoint in --train_log_dir={train_log_dir} (tried "
                     f"{len(paths)}); move them away to start again from step 0")
  return None


def run_training(config, make_curriculum, strategy=None, extra_callbacks=()):
  """Trains until `config.max_number_of_steps`, resuming from `train_log_dir` if possible.

  Args:
    config: `TrainConfig`, already validated (bad flags raise before this point).
    make_curriculum: callable(num_examples=, num_classes=) -> `curriculum.Curriculum`; called
      inside the strategy scope.
    strategy: a `tf.distribute.Strategy`; made from the config when None.
    extra_callbacks: more `keras.callbacks.Callback`s for `fit` (e.g. periodic evaluation).
  Returns:
    dict with `global_step`, `train_log_dir`, `latest_checkpoint`, `resumed_from_step`.
  """
  # The strategy comes first: logical CPU replicas and multi-worker collectives must be set up
  # before TensorFlow initializes its runtime.
  distribution.set_op_threads(config.intra_op_threads, config.inter_op_threads)
  if strategy is None:
    strategy = distribution.make_strategy(config.strategy, config.num_gpus, config.cpu_replicas)
  keras.utils.set_random_seed(config.random_seed)
  config = apply_mixed_precision(config)
  if config.batch_size % strategy.num_replicas_in_sync:
    raise UsageError(f"--batch_size={config.batch_size} is not divisible by the "
                     f"{strategy.num_replicas_in_sync} replicas")
  spec = studentnets.get_studentnet_spec(config.studentnet)
  split = data_lib.describe_split(config.data_dir, config.dataset_name, "train")
  check_resume_compatible(config)

  model = build_trainer(config, strategy, split.num_classes, split.num_examples,
                        make_curriculum)
  is_chief = distribution.is_chief(strategy)
  checkpoint = make_checkpoint(model)
  os.makedirs(config.train_log_dir, exist_ok=True)
  if is_chief:
    checkpoint_dir = config.train_log_dir
  else:
    checkpoint_dir = tempfile.mkdtemp(prefix="mentornet_worker_ckpt_")
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, config.max_checkpoints_to_keep,
                                       checkpoint_name=CHECKPOINT_NAME,
                                       keep_checkpoint_every_n_hours=24)
  latest = restore_newest_readable(checkpoint, config.train_log_dir)
  resumed_from = 0
  if latest:
    resumed_from = int(model.optimizer.iterations.numpy())
    logging.info("resumed from %s at step %d", latest, resumed_from)
    print(f"Resuming from {latest} at step {resumed_from}", flush=True)
  if is_chief:
    record = _record_with_changes(config, resumed_from)
    with open(os.path.join(config.train_log_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
      json.dump(record, f, indent=2, sort_keys=True)

  if resumed_from >= config.max_number_of_steps:
    print(f"Already trained {resumed_from} >= {config.max_number_of_steps} steps; nothing to do.")
  else:
    dataset = data_lib.make_dataset(split, config.dataset_name, config.batch_size,
                                    training=True, crop_padding=spec.train_crop_padding,
                                    seed=config.random_seed + resumed_from,
                                    augmentation=config.augmentation)
    dataset = distribution.shard_by_data(dataset)
    steps_per_epoch = max(1, split.num_examples // config.batch_size)
    model.steps_per_execution = exact_steps_per_execution(
        config.steps_per_execution, steps_per_epoch, config.max_number_of_steps - resumed_from)
    callbacks = [
        StopOnNonFinite(manager),
        StopAtStep(config.max_number_of_steps),
        CheckpointEverySecs(manager, config.save_interval_secs),
        ScalarSummaries(config.train_log_dir, config.save_summaries_secs, enabled=is_chief),
    ] + list(extra_callbacks)
    try:
      model.fit(dataset, epochs=math.ceil(config.max_number_of_steps / steps_per_epoch),
                initial_epoch=resumed_from // steps_per_epoch, steps_per_epoch=steps_per_epoch,
                callbacks=callbacks, verbose=config.verbose, shuffle=False)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
      corrupt = data_lib.find_corrupt_file(split.files)
      if corrupt is None:
        raise
      raise UsageError(f"corrupt TFRecord file {corrupt[0]}: {corrupt[1]} (training stopped; "
                       f"checkpoints in {config.train_log_dir} are intact)") from e
  if not is_chief:
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
  trust_summary = None
  if is_chief and config.trust_report:
    from mentornet import trust_report  # pylint: disable=g-import-not-at-top
    report_dataset = data_lib.make_dataset(split, config.dataset_name, config.batch_size,
                                           training=False, cache=False)
    trust_summary = trust_report.write_trust_report(
        model, report_dataset, os.path.join(config.train_log_dir, trust_report.DEFAULT_CSV_NAME))
    print(trust_report.format_summary(trust_summary), flush=True)
  return {
      "global_step": int(model.optimizer.iterations.numpy()),
      "train_log_dir": config.train_log_dir,
      "latest_checkpoint": tf.train.latest_checkpoint(config.train_log_dir),
      "resumed_from_step": resumed_from,
      "model": model,
      "trust_report": trust_summary,
  }
