"""The checkpoint layout shared by training, evaluation and the StudentNet dump, and resuming."""
import os
import sys

from absl import logging
import tensorflow as tf

from mentornet.errors import UsageError


def make_checkpoint(model):
  """The checkpoint layout shared by training, evaluation and the StudentNet dump; the
  per-example training dynamics (`model.dynamics`) when the model tracks them (restore a
  checkpoint written without them through `matching_checkpoint`: their sums stay zero)."""
  objects = {"student": model.student, "curriculum": model.curriculum,
             "optimizer": model.optimizer}
  if getattr(model, "dynamics", None) is not None:
    objects["dynamics"] = model.dynamics
  return tf.train.Checkpoint(**objects)


def matching_checkpoint(checkpoint, path):
  """`checkpoint` (of `make_checkpoint`), less its training dynamics when the checkpoint at
  `path` was written without them (before they were tracked), so that restoring `path` matches
  every object it holds."""
  if getattr(checkpoint, "dynamics", None) is None:
    return checkpoint
  if any(name.startswith("dynamics/") for name, _ in tf.train.list_variables(path)):
    return checkpoint
  return tf.train.Checkpoint(student=checkpoint.student, curriculum=checkpoint.curriculum,
                             optimizer=checkpoint.optimizer)


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
      matching_checkpoint(checkpoint, path).restore(path).assert_existing_objects_matched()
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
