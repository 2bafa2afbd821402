"""One training run as every experiment does it: train (or resume), trust report, curves.

`train_and_report` is what the original entry points and the command grid run for each method;
`train_with_curves` adds the learning curves of the quickstart, reproduce_small and the regime
study; `load_result` / `save_result` keep a finished run's result so that rerunning the same
command reuses it, never across precisions.
"""
import json
import os
import time

import keras

from mentornet.analysis import learning_curves
from mentornet.analysis import trust_report
from mentornet.config import train_config
from mentornet.data import pipeline
from mentornet.errors import UsageError
from mentornet.training import loop as training_loop

RESULT_FILE = "result.json"


def train_and_report(config, make_curriculum, strategy=None, extra_callbacks=(),
                     clear_session=False):
  """`training.loop.run_training`, then the run's trust report (`config.trust_report`).

  Returns the outcome of `run_training` with `trust_report` (its summary dict, or None).
  `clear_session` first drops the Keras state of earlier runs in this process.
  """
  if clear_session:
    keras.backend.clear_session()
  outcome = training_loop.run_training(config, make_curriculum, strategy=strategy,
                                       extra_callbacks=extra_callbacks)
  outcome["trust_report"] = trust_report.write_run_report(outcome, config)
  return outcome


def train_with_curves(config, make_curriculum, eval_every, eval_dirs, train_eval_dir,
                      eval_batch_size=256):
  """Trains one run in a fresh Keras session with learning curves and its trust report.

  Args:
    config: `TrainConfig` of the run.
    make_curriculum: callable(num_examples=, num_classes=) -> curriculum.
    eval_every: steps between learning-curve rows.
    eval_dirs: {name: directory of a `test` split}; each row gets `<name>_accuracy`.
    train_eval_dir: directory of the noisy `train` split whose fit the curves follow.
    eval_batch_size: images per evaluation batch.
  Returns:
    {"history": learning-curve rows, "trust_report": summary or None, "global_step",
     "seconds", "precision": the Keras policy the run trained in (its train_config.json)}.
  """
  start = time.time()
  eval_sets = {
      name: pipeline.make_dataset(pipeline.describe_split(directory, config.dataset_name, "test"),
                                  config.dataset_name, eval_batch_size, training=False)
      for name, directory in eval_dirs.items()}
  train_split = pipeline.describe_split(train_eval_dir, config.dataset_name, "train")
  curves = learning_curves.LearningCurves(
      eval_every, eval_sets, train_dataset=pipeline.make_dataset(
          train_split, config.dataset_name, eval_batch_size, training=False))
  outcome = train_and_report(config, make_curriculum, extra_callbacks=[curves],
                             clear_session=True)
  if not curves.history:  # Already at its last step: fit never ran; evaluate it once.
    curves.set_model(outcome["model"])
    curves.evaluate()
  return {"history": curves.history, "trust_report": outcome["trust_report"],
          "global_step": outcome["global_step"], "seconds": round(time.time() - start, 1),
          "precision": train_config.keras_policy_name(
              train_config.run_policy(config.train_log_dir))}


def load_result(run_dir, precision=None, settings=None):
  """The saved result dict of a finished run in `run_dir`, or None when there is none.

  With `precision` (a Keras policy name), a result of another or an unrecorded precision is
  refused with `UsageError`: results of two precisions are never mixed in one table. With
  `settings` (the dict the run would record as its "settings"), so is a result trained with
  other settings (a MentorNet path counts by its last two components: the shipped model).
  """
  path = os.path.join(run_dir, RESULT_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    result = json.load(f)
  if precision is not None and result.get("precision") != precision:
    found = result.get("precision") or "an unrecorded precision"
    raise UsageError(f"{path} holds a result trained in {found}, not {precision}: rerun with "
                     f"that --mixed_precision or use another --output_dir")
  if settings is not None:
    saved, wanted = _comparable(result.get("settings") or {}), _comparable(settings)
    differing = sorted(key for key in saved.keys() | wanted.keys()
                       if saved.get(key) != wanted.get(key))
    if differing:
      key = differing[0]
      raise UsageError(f"{path} was trained with {key}={saved.get(key)!r}, this command would "
                       f"use {wanted.get(key)!r}: use another --output_dir")
  return result


def _comparable(settings):
  """`settings` as JSON reads it back, trained_mentornet_dir reduced to its last two path
  components."""
  settings = json.loads(json.dumps(settings))
  if settings.get("trained_mentornet_dir"):
    parts = os.path.normpath(settings["trained_mentornet_dir"]).split(os.sep)
    settings["trained_mentornet_dir"] = "/".join(parts[-2:])
  return settings


def save_result(run_dir, result):
  """Writes `result` as `<run_dir>/result.json`."""
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, RESULT_FILE), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
