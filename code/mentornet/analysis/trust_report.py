"""Per-example trust report: how much the curriculum trusts each training label at the end.

One ordered pass over the training split without augmentation writes a CSV with columns
`example_id,given_label,clean_label,trust,rank,loss`:
- `example_id`: the record's id (its position in the pass when the files carry no ids);
- `given_label`: the (possibly noisy) training label; `clean_label`: -1 when unknown;
- `trust`, by curriculum:
    mentornet        the MentorNet's v at the final epoch feature with the checkpointed loss
                     moving average (no example dropout, no burn-in override); MentorMix
                     gives the v of its first pass (its 'individual' moving average);
    data_parameters  -sigma_effective (a corrupted label ends with a large sigma);
    baseline         -loss (the small-loss criterion; the baseline has no weights of its own);
- `rank`: 1 = least trusted; trust is compared at `TRUST_RESOLUTION` and equal trust is ordered
  by loss (larger = less trusted), then by id;
- `loss`: the cross-entropy of the given label with unscaled logits (inference mode);
then, from the run's training dynamics (`training.dynamics`, accumulated in the train step):
- `mean_margin`, `mean_loss`, `mean_v`: the example's means over the steps that saw it (its
  area under the margin, training loss and curriculum weight); `seen`: how many steps;
  `early_mean_margin`, `early_mean_loss`: the same over the first half of training;
- `suspect_rank`: 1 = most suspect by `label_issues.WINNING_RANKING` (the whole run's `aum`
  when the first half did not see every example; `final_trust`, i.e. `rank`, for a run without
  dynamics, e.g. records without ids or an older checkpoint);
- `flagged`: 1 for the `round(estimated noise rate * n)` most suspect
  (`label_issues.flag_ranking` with its `COUNT_RULE`, no clean labels needed).
The summary gives `label_issue_ranking`, `estimated_noise_rate` and `num_flagged`, and with
clean labels `flagged_precision`, `flagged_recall`, `flagged_f1` and `label_issue_roc_auc`.
When clean labels are known, a JSON summary beside the CSV (`<stem>_summary.json`) also holds
the noise-detection ROC AUC of the ranking (label corrupted = positive; trust with ties broken by
loss, see `tie_broken_trust`), the same AUC of the plain loss for comparison, the precision at
the noise rate (share of corrupted labels among as many least-trusted examples as there are
corrupted ones) and the fraction of corrupted labels among the least-trusted p of the examples,
p in `LEAST_TRUSTED_FRACTIONS`.
"""
import csv
import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from mentornet.analysis import evaluation
from mentornet.analysis import label_issues
from mentornet.config import defaults
from mentornet.config import train_config
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import data_parameters as data_parameters_lib
from mentornet.curricula import mentormix as mentormix_lib
from mentornet.data import pipeline as data_lib
from mentornet.errors import UsageError
from mentornet.training import checkpoints
from mentornet.training import loop as training_loop
from mentornet.training import precision

CSV_COLUMNS = ("example_id", "given_label", "clean_label", "trust", "rank", "loss",
               "mean_margin", "mean_loss", "mean_v", "seen", "early_mean_margin",
               "early_mean_loss", "suspect_rank", "flagged")
DEFAULT_CSV_NAME = "trust_report.csv"
LEAST_TRUSTED_FRACTIONS = (0.05, 0.1, 0.2, 0.4)
# Trust values are compared on this grid: a MentorNet's saturated v differs between examples
# only by numerical noise (about 1e-6), which must not decide the ranking. The same size as
# `defaults.SELECTED_WEIGHT_THRESHOLD`, below which a weight counts as unused.
TRUST_RESOLUTION = defaults.SELECTED_WEIGHT_THRESHOLD


def summary_path(output_csv):
  """`<dir>/<stem>_summary.json` beside `output_csv`."""
  stem, _ = os.path.splitext(output_csv)
  return f"{stem}_summary.json"


# ---------------------------------------------------------------------------- statistics


def average_ranks(values):
  """1-based ranks of `values` [n] in ascending order; tied values share their mean rank."""
  values = np.asarray(values, np.float64)
  order = np.argsort(values, kind="mergesort")
  sorted_values = values[order]
  # Start index of each run of equal values, and the run each sorted position belongs to.
  starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
  ends = np.r_[starts[1:], len(values)]
  run_of_position = np.repeat(np.arange(len(starts)), ends - starts)
  mean_rank = (starts + 1 + ends) / 2.0  # mean of the 1-based ranks starts+1 .. ends
  ranks = np.empty(len(values), np.float64)
  ranks[order] = mean_rank[run_of_position]
  return ranks


def roc_auc(scores, positives):
  """Area under the ROC curve of `scores` [n] for boolean `positives` [n] (ties count 1/2).

  The Mann-Whitney statistic from average ranks. None when one class is empty.
  """
  scores = np.asarray(scores, np.float64)
  positives = np.asarray(positives, bool)
  num_positive = int(positives.sum())
  num_negative = len(positives) - num_positive
  if num_positive == 0 or num_negative == 0:
    return None
  rank_sum = average_ranks(scores)[positives].sum()
  return float((rank_sum - num_positive * (num_positive + 1) / 2.0) /
               (num_positive * num_negative))


def _on_grid(trust):
  return np.round(np.asarray(trust, np.float64) / TRUST_RESOLUTION)


def tie_broken_trust(trust, losses):
  """float64 [n] scores ordered like `trust` [n] on the `TRUST_RESOLUTION` grid, equal trust
  ordered by loss [n] (a larger loss is trusted less); examples equal in both share a score.

  A MentorNet's v saturates near 0 or 1 for many examples; breaking those ties by the loss
  keeps the ranking informative where v cannot tell examples apart.
  """
  trust = _on_grid(trust)
  losses = np.asarray(losses, np.float64)
  order = np.lexsort((-losses, trust))
  pairs = np.stack([trust[order], -losses[order]], axis=1)
  new_group = np.r_[True, np.any(pairs[1:] != pairs[:-1], axis=1)] if len(order) else []
  scores = np.empty(len(order), np.float64)
  scores[order] = np.cumsum(new_group)
  return scores


def trust_ranks(trust, example_ids, losses=None):
  """int64 [n] ranks, 1 = least trusted; when `losses` is given, trust is compared on the
  `TRUST_RESOLUTION` grid and equal trust is ordered by loss (larger first); then by id."""
  keys = (np.asarray(example_ids),)
  if losses is not None:
    keys += (-np.asarray(losses, np.float64),)
    trust = _on_grid(trust)
  order = np.lexsort(keys + (np.asarray(trust),))
  ranks = np.empty(len(order), np.int64)
  ranks[order] = np.arange(1, len(order) + 1)
  return ranks


def corrupted_among_least_trusted(ranks, corrupted, fractions=LEAST_TRUSTED_FRACTIONS):
  """{str(p): fraction of corrupted labels among the ceil(p * n) lowest-ranked examples}.

  Args:
    ranks: int [n] trust ranks (1 = least trusted) of the examples with known clean labels.
    corrupted: bool [n].
  """
  corrupted_by_rank = np.asarray(corrupted, bool)[np.argsort(ranks, kind="mergesort")]
  result = {}
  for fraction in fractions:
    count = int(np.ceil(fraction * len(corrupted_by_rank) - 1e-9))
    result[f"{fraction:g}"] = (float(corrupted_by_rank[:count].mean()) if count else None)
  return result


def summarize(columns, fractions=LEAST_TRUSTED_FRACTIONS):
  """Summary dict of the report columns (numpy arrays keyed like `CSV_COLUMNS`)."""
  known = columns["clean_label"] >= 0
  summary = {"num_examples": int(len(columns["trust"])),
             "num_with_clean_label": int(known.sum()),
             "mean_trust": float(np.mean(columns["trust"])) if len(columns["trust"]) else None,
             "mean_loss": float(np.mean(columns["loss"])) if len(columns["loss"]) else None}
  if known.any():
    corrupted = columns["given_label"][known] != columns["clean_label"][known]
    trust, losses = columns["trust"][known], columns["loss"][known]
    ranks = trust_ranks(trust, columns["example_id"][known], losses)
    num_corrupted = int(corrupted.sum())
    summary.update({
        "num_corrupted": num_corrupted,
        "noise_rate": float(corrupted.mean()),
        "noise_detection_roc_auc": roc_auc(-tie_broken_trust(trust, losses), corrupted),
        "loss_noise_detection_roc_auc": roc_auc(losses, corrupted),
        "precision_at_noise_rate": (float(corrupted[ranks <= num_corrupted].mean())
                                    if num_corrupted else None),
        "corrupted_fraction_among_least_trusted": corrupted_among_least_trusted(
            ranks, corrupted, fractions),
        "mean_trust_corrupted": float(trust[corrupted].mean()) if corrupted.any() else None,
        "mean_trust_clean": float(trust[~corrupted].mean()) if (~corrupted).any() else None,
    })
    if "flagged" in columns:
      quality = label_issues.flagged_quality(columns["flagged"][known] > 0, corrupted)
      summary.update({f"flagged_{key}": value for key, value in quality.items()})
      summary["label_issue_roc_auc"] = roc_auc(columns["suspect_score"][known], corrupted)
  return summary


# ---------------------------------------------------------------------------- the pass


def trust_source(curriculum):
  """Name of the trust a curriculum gives: data_parameters, mentornet or loss."""
  if isinstance(curriculum, data_parameters_lib.DataParametersCurriculum):
    return "data_parameters"
  if isinstance(curriculum, (curriculum_lib.MentorNetCurriculum,
                             mentormix_lib.MentorMixCurriculum)):
    return "mentornet"
  return "loss"


def trust_scores(curriculum, losses, labels, ids, step_info):
  """float32 [n] trust of examples (see the module docstring)."""
  source = trust_source(curriculum)
  if source == "data_parameters":
    if curriculum.learn_inst_parameters and len(ids) and (
        np.min(ids) < 0 or np.max(ids) >= curriculum.num_examples):
      raise UsageError(data_parameters_lib.INVALID_ID_MESSAGE)
    return curriculum.trust_scores(tf.constant(labels), tf.constant(ids)).numpy()
  if source == "mentornet":
    return curriculum.trust_scores(tf.constant(losses), step_info).numpy()
  return -np.asarray(losses, np.float32)


def compute_columns(student, dataset):
  """One pass of `student` (inference mode) over `dataset` ((features, label) batches).

  Returns numpy columns: `example_id` int64, `given_label` int32, `clean_label` int32,
  `loss` float32 (all [n]).
  """
  values = evaluation.per_example_pass(student, dataset)
  columns = {"example_id": values["id"], "given_label": values["label"],
             "clean_label": values["clean_label"], "loss": values["loss"]}
  columns["record_id"] = columns["example_id"]
  if np.any(columns["example_id"] < 0):  # Original-format records carry no ids.
    columns["example_id"] = np.arange(len(columns["loss"]), dtype=np.int64)
  return columns


def write_csv(output_csv, columns):
  with open(output_csv, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(CSV_COLUMNS)
    order = np.argsort(columns["example_id"], kind="mergesort")
    for i in order:
      writer.writerow([int(columns["example_id"][i]), int(columns["given_label"][i]),
                       int(columns["clean_label"][i]), f"{columns['trust'][i]:.7g}",
                       int(columns["rank"][i]), f"{columns['loss'][i]:.7g}",
                       f"{columns['mean_margin'][i]:.7g}", f"{columns['mean_loss'][i]:.7g}",
                       f"{columns['mean_v'][i]:.7g}", int(columns["seen"][i]),
                       f"{columns['early_mean_margin'][i]:.7g}",
                       f"{columns['early_mean_loss'][i]:.7g}",
                       int(columns["suspect_rank"][i]), int(columns["flagged"][i])])


def read_csv(path):
  """The columns of a trust CSV as numpy arrays (for tests and analysis)."""
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  kinds = {"example_id": np.int64, "given_label": np.int32, "clean_label": np.int32,
           "trust": np.float64, "rank": np.int64, "loss": np.float64, "mean_margin": np.float64,
           "mean_loss": np.float64, "mean_v": np.float64, "seen": np.int64,
           "early_mean_margin": np.float64, "early_mean_loss": np.float64,
           "suspect_rank": np.int64, "flagged": np.int64}
  kinds = {name: kind for name, kind in kinds.items() if not rows or name in rows[0]}
  return {name: np.array([row[name] for row in rows], kind) for name, kind in kinds.items()}


def add_dynamics(columns, dynamics):
  """Adds `mean_margin`, `mean_loss`, `mean_v`, `early_mean_margin`, `early_mean_loss` (NaN
  where unseen) and `seen` [n] of a `training.dynamics.TrainingDynamics` (or None) to
  `columns`, by `record_id`."""
  n = len(columns["loss"])
  means = dynamics.means() if dynamics is not None else None
  ids = columns["record_id"]
  usable = means is not None and n and ids.min() >= 0 and ids.max() < len(means["count"])
  for name in ("mean_margin", "mean_loss", "mean_v", "early_mean_margin", "early_mean_loss"):
    columns[name] = means[name][ids] if usable else np.full(n, np.nan)
  columns["seen"] = means["count"][ids].astype(np.int64) if usable else np.zeros(n, np.int64)
  return columns


def label_issue_ranking(columns):
  """The ranking the report flags with: the first of `label_issues.RANKING_PREFERENCE` that
  scores every example (the training dynamics saw it in that ranking's window)."""
  for name in label_issues.RANKING_PREFERENCE[:-1]:
    if len(columns["seen"]) and np.all(np.isfinite(label_issues.ranking_scores(name, columns))):
      return name
  return label_issues.RANKING_PREFERENCE[-1]


def add_suspects(columns):
  """Adds `suspect_score`, `suspect_rank` (1 = most suspect) and `flagged` to `columns`;
  returns {label_issue_ranking, estimated_noise_rate, num_flagged}."""
  name = label_issue_ranking(columns)
  columns_with_score = {**columns, "trust_score": tie_broken_trust(columns["trust"],
                                                                   columns["loss"])}
  scores, flagged, rate = label_issues.flag_ranking(name, columns_with_score)
  order = np.lexsort((columns["example_id"], -scores))
  columns["suspect_score"] = scores
  columns["suspect_rank"] = np.empty(len(order), np.int64)
  columns["suspect_rank"][order] = np.arange(1, len(order) + 1)
  columns["flagged"] = flagged.astype(np.int64)
  return {"label_issue_ranking": name, "estimated_noise_rate": rate,
          "num_flagged": int(flagged.sum())}


def write_trust_report(model, dataset, output_csv, step_info=None):
  """Writes the trust CSV and its JSON summary; returns the summary dict.

  Args:
    model: a `trainer.StudentTrainer` (student, curriculum, optimizer and max_steps), trained or
      restored from a checkpoint.
    dataset: the training split, one ordered pass without augmentation
      (`data.make_dataset(split, name, batch, training=False)`).
    output_csv: path of the CSV; the summary goes to `summary_path(output_csv)`.
    step_info: `curriculum.StepInfo` of the MentorNet epoch feature; default: the optimizer's
      step and the model's `max_steps`.
  """
  if step_info is None:
    step_info = curriculum_lib.StepInfo(
        step=tf.cast(model.optimizer.iterations, tf.int64), max_steps=model.max_steps,
        seed=tf.zeros([2], tf.int64))
  columns = compute_columns(model.student, dataset)
  source = trust_source(model.curriculum)
  columns["trust"] = np.asarray(
      trust_scores(model.curriculum, columns["loss"], columns["given_label"],
                   columns["record_id"], step_info), np.float32).reshape([-1])
  columns["rank"] = trust_ranks(columns["trust"], columns["example_id"], columns["loss"])
  add_dynamics(columns, getattr(model, "dynamics", None))
  suspects = add_suspects(columns)
  directory = os.path.dirname(os.path.abspath(output_csv))
  os.makedirs(directory, exist_ok=True)
  write_csv(output_csv, columns)
  summary = {"trust_source": source, "global_step": int(step_info.step.numpy()),
             "csv": output_csv, **suspects, **summarize(columns)}
  with open(summary_path(output_csv), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2, sort_keys=True)
  return summary


def format_summary(summary):
  """One line for logs: source, AUC and the least-trusted fractions when known."""
  parts = [f"trust report ({summary['trust_source']}, step {summary['global_step']}): "
           f"{summary['num_examples']} examples -> {summary['csv']}"]
  auc = summary.get("noise_detection_roc_auc")
  if "noise_rate" in summary:
    parts.append(f"noise rate {summary['noise_rate']:.3f}")
    parts.append("noise-detection AUC " + ("n/a" if auc is None else f"{auc:.4f}"))
    precision = summary.get("precision_at_noise_rate")
    parts.append("precision at the noise rate " +
                 ("n/a" if precision is None else f"{precision:.3f}"))
    fractions = summary["corrupted_fraction_among_least_trusted"]
    parts.append("corrupted among least trusted " + ", ".join(
        f"{p}: {'n/a' if v is None else f'{v:.3f}'}" for p, v in fractions.items()))
  if "estimated_noise_rate" in summary:
    flagged = (f"{summary['num_flagged']} flagged by {summary['label_issue_ranking']} "
               f"(estimated noise rate {summary['estimated_noise_rate']:.3f}")
    if summary.get("flagged_f1") is not None:
      flagged += f", F1 {summary['flagged_f1']:.3f}"
    parts.append(flagged + ")")
  return "; ".join(parts)


# ---------------------------------------------------------------------------- checkpoints


def restore_model(config, checkpoint_path, make_curriculum, strategy=None):
  """Builds the run's `StudentTrainer` and restores `checkpoint_path` into it.

  The model computes in the precision the run trained in, so its losses are the run's to the
  last bit: `config.mixed_precision` when resolved, else (an "auto" filled in for a record
  without it) the checkpoint directory's record, float32 when that names none. Keras's global
  policy is left as it was.

  Args:
    config: the run's `train_config.TrainConfig` (from its train_config.json).
    checkpoint_path: a `<dir>/ckpt-<step>` prefix.
    make_curriculum: see `mentornet.curricula.factory.make_curriculum_factory`.
  Returns:
    (model, split info of the training split).
  """
  strategy = strategy or tf.distribute.get_strategy()
  split = data_lib.describe_split(config.data_dir, config.dataset_name, "train")
  policy = config.mixed_precision
  if policy not in train_config.RESOLVED_POLICIES:
    policy = train_config.run_policy(os.path.dirname(checkpoint_path))
  config = dataclasses.replace(config, mixed_precision=policy)
  with precision.keras_policy(policy):
    model = training_loop.build_trainer(config, strategy, split.num_classes,
                                        split.num_examples, make_curriculum)
  try:
    status = checkpoints.matching_checkpoint(checkpoints.make_checkpoint(model),
                                             checkpoint_path).restore(checkpoint_path)
    status.assert_existing_objects_matched()
    status.expect_partial()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    raise UsageError(f"cannot restore {checkpoint_path} into this model "
                     f"({str(e).splitlines()[0][:200]}); check --studentnet, "
                     "--num_residual_units, --resnet_widths and the data")
  return model, split


def write_run_report(outcome, config):
  """Writes `<train_log_dir>/trust_report.csv` of a finished `run_training` outcome (chief only,
  when `config.trust_report`); prints its one-line summary and returns the summary (or None)."""
  if not outcome.get("is_chief", True) or not config.trust_report:
    return None
  dataset = data_lib.make_dataset(outcome["split"], config.dataset_name, config.batch_size,
                                  training=False, cache=False)
  summary = write_trust_report(outcome["model"], dataset,
                               os.path.join(config.train_log_dir, DEFAULT_CSV_NAME))
  print(format_summary(summary), flush=True)
  return summary
