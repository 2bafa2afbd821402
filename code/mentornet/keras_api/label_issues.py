"""`find_label_issues`: which given labels a trained `CurriculumModel` distrusts.

Trust of an example (higher = more trusted), as the trust report computes it
(`mentornet.analysis.trust_report`): a MentorNet's weight v of its loss at the end of training,
minus the instance temperature of data parameters, minus the loss without a curriculum; equal
trust is ordered by loss. Rank 1 is the least trusted example.

How many are flagged, without clean labels: the estimated noise rate r is the share of
examples whose given label differs from the model's prediction (`estimate_noise_rate`), and
the round(r x n) least-trusted examples are flagged. A model trained through the noise (by a
curriculum) disagrees with most wrong labels and agrees with most right ones; a model that
memorized the labels (no curriculum, long training) agrees with nearly all and flags few.
The suggested label is the model's prediction.
"""
import numpy as np
import tensorflow as tf

from mentornet.analysis import trust_report
from mentornet.curricula import base as curriculum_lib
from mentornet.errors import UsageError
import mentornet.keras_api.inputs as inputs_lib

COLUMNS = ("index", "given", "suggested", "trust", "rank", "is_issue")


def estimate_noise_rate(given, suggested):
  """Share of examples whose given label is not the predicted one (float in [0, 1])."""
  given = np.asarray(given)
  return float(np.mean(given != np.asarray(suggested))) if len(given) else 0.0


def _softmax_cross_entropy(logits, labels):
  logits = logits.astype(np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return (-log_probs[np.arange(len(labels)), labels]).astype(np.float32)


def _numbered(learner, x, y):
  data = learner.training_data
  if data is not None and x is data.source and (y is None or isinstance(x, tf.data.Dataset)):
    return data  # The training examples, with the ids they trained with.
  if data is not None and x is data.source and y is not None and np.array_equal(
      inputs_lib.sparse_label_array(y), data.labels):
    return data
  return inputs_lib.number_examples(x, y)


def find_label_issues(learner, x, y=None, batch_size=256):
  """Ranks the examples of (x, y) by trust and flags the likely wrong labels.

  Args:
    learner: a trained `mentornet.CurriculumModel`.
    x, y: the examples, as `fit` takes them (arrays, or a dataset of (x, y) batches with y
      None). Pass the training data itself to use the ids it trained with (needed by data
      parameters' per-example temperatures).
    batch_size: examples per inference batch.
  Returns:
    dict of NumPy arrays [n] in example order: `index` (row of x / position in the dataset),
    `given` and `suggested` (predicted) labels, `trust` (float), `rank` (1 = least trusted)
    and `is_issue` (bool: among the round(r x n) least trusted, r = `estimate_noise_rate`).
  """
  if learner.max_steps is None:
    raise UsageError("find_label_issues needs a trained CurriculumModel (call fit first)")
  data = _numbered(learner, x, y)
  if learner.num_classes is not None and data.labels.max() >= learner.num_classes:
    raise UsageError(f"labels go up to {data.labels.max()} but the model outputs "
                     f"{learner.num_classes} classes")
  ids, logits = learner.predict_logits(data, batch_size)
  order = np.argsort(ids, kind="stable")
  ids, logits = ids[order], logits[order]
  given = data.labels[ids].astype(np.int64)
  suggested = np.argmax(logits, axis=1).astype(np.int64)
  losses = _softmax_cross_entropy(logits, given)
  step_info = curriculum_lib.StepInfo(
      step=tf.cast(learner.optimizer.iterations, tf.int64), max_steps=learner.max_steps,
      seed=tf.zeros([2], tf.int64))
  trust = np.asarray(trust_report.trust_scores(learner.curriculum, losses, given, ids,
                                               step_info), np.float32).reshape([-1])
  ranks = trust_report.trust_ranks(trust, ids, losses)
  flagged = int(round(estimate_noise_rate(given, suggested) * len(ids)))
  return {"index": ids, "given": given, "suggested": suggested, "trust": trust,
          "rank": ranks, "is_issue": ranks <= flagged}
