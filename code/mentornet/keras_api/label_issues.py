"""`find_label_issues`: which given labels a trained `CurriculumModel` distrusts.

The examples are ranked as the CIFAR trainer's trust report ranks them
(`analysis.trust_report.add_suspects`), so the two tools agree on one run:
- with the training data itself, by `analysis.label_issues.WINNING_RANKING`, the area under the
  margin over the first half of training (accumulated by the train step in
  `CurriculumModel.dynamics`; the whole run's when the first half did not see every example);
- with other examples (no training dynamics), by the final trust: a MentorNet's weight v of
  the loss at the end of training, minus the instance temperature of data parameters, minus
  the loss without a curriculum; equal trust ordered by loss.
How many are flagged, without clean labels: the share r of wrong labels is estimated by
`analysis.label_issues.count_rate` (a two-component mixture on the ranking's scores, capped by
the share of examples whose given label the network did not, on average, predict), and the
round(r x n) most suspect examples are flagged. The suggested label is the model's prediction.
"""
import numpy as np
import tensorflow as tf

from mentornet.analysis import trust_report
from mentornet.curricula import base as curriculum_lib
from mentornet.errors import UsageError
import mentornet.keras_api.inputs as inputs_lib

COLUMNS = ("index", "given", "suggested", "trust", "suspicion", "rank", "is_issue")


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
  """Ranks the examples of (x, y) by how suspect their labels are and flags the likely wrong.

  Args:
    learner: a trained `mentornet.CurriculumModel`.
    x, y: the examples, as `fit` takes them (arrays, or a dataset of (x, y) batches with y
      None). Pass the training data itself (the same objects) to rank by its training dynamics
      and to use the ids it trained with (needed by data parameters' per-example temperatures).
    batch_size: examples per inference batch.
  Returns:
    dict in example order of NumPy arrays [n]: `index` (row of x / position in the dataset),
    `given` and `suggested` (predicted) labels, `trust` (float, the final trust),
    `suspicion` (float, the ranking's score, larger = more suspect), `rank` (1 = most
    suspect), `is_issue` (bool: the round(r x n) most suspect); and `ranking` (str, its name)
    and `estimated_noise_rate` (float r).
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
  columns = {"example_id": ids, "record_id": ids, "given_label": given,
             "loss": _softmax_cross_entropy(logits, given)}
  step_info = curriculum_lib.StepInfo(
      step=tf.cast(learner.optimizer.iterations, tf.int64), max_steps=learner.max_steps,
      seed=tf.zeros([2], tf.int64))
  columns["trust"] = np.asarray(trust_report.trust_scores(
      learner.curriculum, columns["loss"], given, ids, step_info), np.float32).reshape([-1])
  trained_on = data is learner.training_data
  trust_report.add_dynamics(columns, learner.dynamics if trained_on else None)
  suspects = trust_report.add_suspects(columns)
  return {"index": ids, "given": given, "suggested": np.argmax(logits, axis=1).astype(np.int64),
          "trust": columns["trust"], "suspicion": columns["suspect_score"],
          "rank": columns["suspect_rank"], "is_issue": columns["flagged"] > 0,
          "ranking": suspects["label_issue_ranking"],
          "estimated_noise_rate": suspects["estimated_noise_rate"]}
