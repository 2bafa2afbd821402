"""One training run as every experiment does it: train (or resume), then the trust report.

`train_and_report` is what the original entry points, the quickstart, reproduce_small and the
command grid run for each method; `load_result` / `save_result` keep a finished run's result so
that rerunning the same command reuses it.
"""
import json
import os

import keras

from mentornet.analysis import trust_report
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


def load_result(run_dir):
  """The saved result dict of a finished run in `run_dir`, or None."""
  path = os.path.join(run_dir, RESULT_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def save_result(run_dir, result):
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, RESULT_FILE), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
