"""Runs a StudentNet training job: strategy, data, model, checkpoints, resume, summaries.

`run_training(config, make_curriculum)` serves the baseline, every MentorNet and the data
parameters curriculum alike. Rerunning a killed job with the same command restores the latest
checkpoint in `train_log_dir` (step, optimizer slots, curriculum state such as the loss moving
average) and continues until `max_number_of_steps`. What happens after training (the trust
report, learning curves) is the caller's: see `mentornet.experiments.runner`.
"""
import json
import math
import os
import shutil
import tempfile

from absl import logging
import keras
import tensorflow as tf

from mentornet.config import train_config as train_config_lib
from mentornet.config.train_config import CHECKPOINT_NAME
from mentornet.config.train_config import CONFIG_FILE
from mentornet.config.train_config import RESUME_MUST_MATCH
from mentornet.data import pipeline as data_lib
from mentornet.errors import UsageError
from mentornet.models import studentnets
from mentornet.training import callbacks as callbacks_lib
from mentornet.training import checkpoints
from mentornet.training import distribution
from mentornet.training import precision
from mentornet.training import trainer as trainer_lib

# Curricula that train with the original's MentorNet learning-rate schedule.
MENTORNET_CURRICULA = ("mentornet", "mentormix")


def _read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def check_resume_compatible(config):
  """Refuses to reuse a train_log_dir written by a different kind of run (nothing touched)."""
  path = os.path.join(config.train_log_dir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  previous = _read_json(path)
  current = train_config_lib.config_record(config)
  for key in RESUME_MUST_MATCH:
    if key in previous and previous[key] != current[key]:
      raise UsageError(
          f"--train_log_dir={config.train_log_dir} holds a run with {key}={previous[key]!r}, "
          f"not {current[key]!r}; use a new --train_log_dir")


def _record_with_changes(config, resumed_from):
  """The train_config.json record of `config`, keeping the earlier record's `changes` list and
  adding {"step", "changed": {field: [old, new]}} (also printed) when a resumed run's fields
  differ. RESUME_MUST_MATCH fields never get here (`check_resume_compatible` refuses them)."""
  record = train_config_lib.config_record(config)
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
        num_examples, config.batch_size,
        with_mentornet=config.curriculum in MENTORNET_CURRICULA,
        boundaries=config.learning_rate_boundaries)
    optimizer = spec.make_optimizer(schedule)
    model = trainer_lib.StudentTrainer(student, curriculum, config.max_number_of_steps,
                                       random_seed=config.random_seed,
                                       num_examples=num_examples)
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    optimizer.build(student.trainable_variables)
  return model


def run_training(config, make_curriculum, strategy=None, extra_callbacks=()):
  """Trains until `config.max_number_of_steps`, resuming from `train_log_dir` if possible.

  Args:
    config: `TrainConfig`, already validated (bad flags raise before this point).
    make_curriculum: callable(num_examples=, num_classes=) -> `curriculum.Curriculum`; called
      inside the strategy scope.
    strategy: a `tf.distribute.Strategy`; made from the config when None.
    extra_callbacks: more `keras.callbacks.Callback`s for `fit` (e.g. periodic evaluation).
  Returns:
    dict with `global_step`, `train_log_dir`, `latest_checkpoint`, `resumed_from_step`, the
    trained `model` (`StudentTrainer`), the training `split` (`data.pipeline.SplitInfo`) and
    `is_chief` (this worker writes the run's files).
  """
  # The strategy comes first: logical CPU replicas and multi-worker collectives must be set up
  # before TensorFlow initializes its runtime.
  distribution.set_op_threads(config.intra_op_threads, config.inter_op_threads)
  if strategy is None:
    strategy = distribution.make_strategy(config.strategy, config.num_gpus, config.cpu_replicas)
  keras.utils.set_random_seed(config.random_seed)
  # A resumed run keeps its recorded precision unless --mixed_precision names another.
  config = precision.apply_mixed_precision(precision.keep_recorded_policy(config))
  if config.batch_size % strategy.num_replicas_in_sync:
    raise UsageError(f"--batch_size={config.batch_size} is not divisible by the "
                     f"{strategy.num_replicas_in_sync} replicas")
  spec = studentnets.get_studentnet_spec(config.studentnet)
  split = data_lib.describe_split(config.data_dir, config.dataset_name, "train")
  check_resume_compatible(config)

  model = build_trainer(config, strategy, split.num_classes, split.num_examples,
                        make_curriculum)
  is_chief = distribution.is_chief(strategy)
  checkpoint = checkpoints.make_checkpoint(model)
  os.makedirs(config.train_log_dir, exist_ok=True)
  if is_chief:
    checkpoint_dir = config.train_log_dir
  else:
    checkpoint_dir = tempfile.mkdtemp(prefix="mentornet_worker_ckpt_")
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, config.max_checkpoints_to_keep,
                                       checkpoint_name=CHECKPOINT_NAME,
                                       keep_checkpoint_every_n_hours=24)
  latest = checkpoints.restore_newest_readable(checkpoint, config.train_log_dir)
  resumed_from = 0
  if latest:
    resumed_from = int(model.optimizer.iterations.numpy())
    logging.info("resumed from %s at step %d", latest, resumed_from)
    print(f"Resuming from {latest} at step {resumed_from}", flush=True)
  if is_chief:
    record = _record_with_changes(config, resumed_from)
    # Replaced atomically: an eval job may be reading it (its precision) at any time.
    path = os.path.join(config.train_log_dir, CONFIG_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump(record, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)

  if resumed_from >= config.max_number_of_steps:
    print(f"Already trained {resumed_from} >= {config.max_number_of_steps} steps; nothing to do.")
  else:
    dataset = data_lib.make_dataset(split, config.dataset_name, config.batch_size,
                                    training=True, crop_padding=spec.train_crop_padding,
                                    seed=config.random_seed + resumed_from,
                                    augmentation=config.augmentation)
    dataset = distribution.shard_by_data(dataset)
    steps_per_epoch = max(1, split.num_examples // config.batch_size)
    model.steps_per_execution = callbacks_lib.exact_steps_per_execution(
        config.steps_per_execution, steps_per_epoch, config.max_number_of_steps - resumed_from)
    callbacks = [
        callbacks_lib.StopOnNonFinite(manager),
        callbacks_lib.StopAtStep(config.max_number_of_steps),
        callbacks_lib.CheckpointEverySecs(manager, config.save_interval_secs),
        callbacks_lib.ScalarSummaries(config.train_log_dir, config.save_summaries_secs,
                                      enabled=is_chief),
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
  return {
      "global_step": int(model.optimizer.iterations.numpy()),
      "train_log_dir": config.train_log_dir,
      "latest_checkpoint": tf.train.latest_checkpoint(config.train_log_dir),
      "resumed_from_step": resumed_from,
      "model": model,
      "split": split,
      "is_chief": is_chief,
  }
