"""Rankings of suspect labels from one run, and how many to flag without clean labels.

A ranking maps per-example columns to a suspicion score (float64 [n], larger = more likely a
wrong label). From the end of training (one inference pass, `trust_report`):
  final_trust   the curriculum's trust with ties broken by the loss (the trust report's rank);
  final_loss    the cross-entropy of the given label;
from the whole of training (`training.dynamics.TrainingDynamics`, accumulated in the step):
  aum           -mean margin (area under the margin, Pleiss et al. 2020);
  mean_loss     the mean training loss;
  mean_v        -mean curriculum weight, ties broken by the mean loss (MentorNets; constant
                for the baseline and data parameters);
  early_aum, early_mean_loss   the same over the first half of training (before the first
                learning-rate drop, when a memorizing StudentNet has not yet fit most wrong
                labels).
How many to flag (`COUNT_RULE`, no clean labels): `estimate_noise_rate` fits a two-component
1-D Gaussian mixture to the ranking's statistic (`mixture_scores`: the score itself, or the
untied trust / mean v where the score only orders ties); the weight of the component with the
larger mean is the `mixture` estimate of the share of wrong labels. Two Gaussians fit any set of
scores, a clean one too (0.78 of an all-correct training set), so `capped_mixture` caps it by
the `disagreement` rate: the share of examples whose mean margin over the ranking's window
(`WINDOW_MARGINS`) is negative, i.e. whose given label the network did not, on average, predict
there. The round(rate * n) highest scores are flagged (`flag_ranking`).

`WINNING_RANKING` is the one the trust report flags with; it was chosen on noise generated for
the choice only, never on judged data: benchmarks/label_issues.py --seed=1 --methods=baseline
--nocleanlab at 40% symmetric and 40% asymmetric noise (reproduce_small's reduced regime), then
--choose_from=<both JSONs>: the highest mean F1 of the flagged set over both runs. Mean F1
(mean ROC AUC) there: early_aum 0.502 (0.713), early_mean_loss 0.491 (0.711), aum 0.478
(0.668), mean_loss 0.468 (0.710), final_trust = final_loss 0.335 (0.597). `COUNT_RULE` was
chosen on choice runs too (--choose_count_from, docs/label_issues.md): the mixture alone flagged
0.775 of a clean training set and was out; capped_mixture had the higher mean F1 (0.596 against
disagreement's 0.586 over eight noisy runs).
"""
import numpy as np

RANKINGS = ("final_trust", "final_loss", "aum", "mean_loss", "mean_v", "early_aum",
            "early_mean_loss")
DYNAMICS_RANKINGS = ("aum", "mean_loss", "mean_v", "early_aum", "early_mean_loss")
WINNING_RANKING = "early_aum"
# What the trust report flags with: the first ranking that scores every example.
RANKING_PREFERENCE = (WINNING_RANKING, "aum", "final_trust")
# The mean margin over each dynamics ranking's window (the end-of-training rankings have none).
WINDOW_MARGINS = {"aum": "mean_margin", "mean_loss": "mean_margin", "mean_v": "mean_margin",
                  "early_aum": "early_mean_margin", "early_mean_loss": "early_mean_margin"}
COUNT_RULES = ("mixture", "disagreement", "capped_mixture")
COUNT_RULE = "capped_mixture"
# EM of the two-component mixture.
MIXTURE_ITERATIONS = 200
MIN_STD_FRACTION = 1e-3  # variance floor: this share of the scores' standard deviation


def _tie_broken(primary, secondary):
  """primary [n] with ties ordered by secondary [n] (both: larger = more suspect)."""
  primary = np.asarray(primary, np.float64)
  secondary = np.asarray(secondary, np.float64)
  order = np.lexsort((secondary, primary))
  scores = np.empty(len(order), np.float64)
  scores[order] = np.arange(len(order), dtype=np.float64)
  # Equal pairs share a score.
  pairs = np.stack([primary[order], secondary[order]], axis=1)
  if len(order):
    same = np.r_[False, np.all(pairs[1:] == pairs[:-1], axis=1)]
    group_start = np.maximum.accumulate(np.where(same, 0, np.arange(len(order))))
    scores[order] = group_start.astype(np.float64)
  return scores


def ranking_scores(name, columns):
  """float64 [n] suspicion scores of ranking `name` (see the module docstring).

  Args:
    columns: numpy [n] arrays: `loss`; `trust_score` (final_trust: the trust report's
      tie-broken trust, larger = more trusted); `mean_margin`, `mean_loss`, `mean_v`,
      `early_mean_margin`, `early_mean_loss`.
  """
  if name == "final_trust":
    return -np.asarray(columns["trust_score"], np.float64)
  if name == "final_loss":
    return np.asarray(columns["loss"], np.float64)
  if name == "aum":
    return -np.asarray(columns["mean_margin"], np.float64)
  if name == "mean_loss":
    return np.asarray(columns["mean_loss"], np.float64)
  if name == "mean_v":
    v = np.round(np.asarray(columns["mean_v"], np.float64), 6)
    return _tie_broken(-v, columns["mean_loss"])
  if name == "early_aum":
    return -np.asarray(columns["early_mean_margin"], np.float64)
  if name == "early_mean_loss":
    return np.asarray(columns["early_mean_loss"], np.float64)
  raise ValueError(f"unknown ranking {name}; choose from {', '.join(RANKINGS)}")


def mixture_scores(name, columns):
  """float64 [n] statistic whose mixture estimates the noise rate for ranking `name`: the
  ranking's scores, except -trust for final_trust and -mean v for mean_v (their scores are
  tie-broken ranks, uniform by construction)."""
  if name == "final_trust":
    return -np.asarray(columns["trust"], np.float64)
  if name == "mean_v":
    return -np.asarray(columns["mean_v"], np.float64)
  return ranking_scores(name, columns)


def estimate_noise_rate(scores, iterations=MIXTURE_ITERATIONS):
  """Share of wrong labels estimated from suspicion scores [n] alone, in [0, 1].

  A two-component Gaussian mixture fitted by EM (started at the quartiles); the weight of the
  component with the larger mean. Non-finite scores are ignored; 0.0 for fewer than 2 scores
  or constant scores.
  """
  x = np.asarray(scores, np.float64)
  x = x[np.isfinite(x)]
  if len(x) < 2 or np.ptp(x) == 0:
    return 0.0
  floor = max(np.std(x) * MIN_STD_FRACTION, 1e-12)
  means = np.percentile(x, [25.0, 75.0])
  stds = np.full(2, np.std(x) / 2 + floor)
  weights = np.full(2, 0.5)
  for _ in range(iterations):
    log_density = (-0.5 * ((x[:, None] - means) / stds) ** 2 - np.log(stds) +
                   np.log(np.maximum(weights, 1e-300)))
    log_density -= log_density.max(axis=1, keepdims=True)
    resp = np.exp(log_density)
    resp /= resp.sum(axis=1, keepdims=True)
    totals = resp.sum(axis=0)
    if np.any(totals < 1e-9):  # One component emptied: a single population.
      return 0.0 if np.argmax(totals) == 0 or means[1] < means[0] else 1.0
    weights = totals / len(x)
    means = (resp * x[:, None]).sum(axis=0) / totals
    stds = np.sqrt((resp * (x[:, None] - means) ** 2).sum(axis=0) / totals) + floor
  return float(weights[int(np.argmax(means))])


def flag_top(scores, count):
  """bool [n]: the `count` highest scores (ties by position, stable)."""
  scores = np.asarray(scores, np.float64)
  count = int(min(max(count, 0), len(scores)))
  flagged = np.zeros(len(scores), bool)
  order = np.argsort(-scores, kind="mergesort")
  flagged[order[:count]] = True
  return flagged


def disagreement_rate(name, columns):
  """Share of examples whose mean margin over ranking `name`'s window is negative (their given
  label was not, on average, the network's prediction there); None for a ranking without a
  window (final_trust, final_loss). Unseen examples (NaN margin) are left out."""
  if name not in WINDOW_MARGINS:
    return None
  margins = np.asarray(columns[WINDOW_MARGINS[name]], np.float64)
  margins = margins[np.isfinite(margins)]
  return float(np.mean(margins < 0)) if len(margins) else 0.0


def count_rate(name, columns, rule=COUNT_RULE):
  """The share of examples to flag by ranking `name` under count `rule` (`COUNT_RULES`):
  `mixture` (`estimate_noise_rate` on `mixture_scores`), `disagreement` (`disagreement_rate`)
  or `capped_mixture` (the smaller of the two); a ranking without a window has only the
  mixture."""
  if rule not in COUNT_RULES:
    raise ValueError(f"unknown count rule {rule}; choose from {', '.join(COUNT_RULES)}")
  disagreement = disagreement_rate(name, columns)
  if rule == "disagreement" and disagreement is not None:
    return disagreement
  mixture = estimate_noise_rate(mixture_scores(name, columns))
  if rule == "capped_mixture" and disagreement is not None:
    return min(mixture, disagreement)
  return mixture


def flag_ranking(name, columns, rule=COUNT_RULE):
  """(scores float64 [n], flagged bool [n], rate): ranking `name`'s suspicion scores and its
  round(rate * n) highest, the rate from `count_rate` (no clean labels)."""
  scores = ranking_scores(name, columns)
  rate = count_rate(name, columns, rule)
  return scores, flag_top(scores, int(round(rate * len(scores)))), rate


def flagged_quality(flagged, corrupted):
  """{precision, recall, f1} of the flagged set (bool [n]) against `corrupted` (bool [n]);
  precision None when nothing is flagged, recall None when nothing is corrupted."""
  flagged = np.asarray(flagged, bool)
  corrupted = np.asarray(corrupted, bool)
  hits = int(np.sum(flagged & corrupted))
  precision = hits / flagged.sum() if flagged.any() else None
  recall = hits / corrupted.sum() if corrupted.any() else None
  f1 = (2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0 else 0.0)
  return {"precision": None if precision is None else float(precision),
          "recall": None if recall is None else float(recall), "f1": float(f1)}
