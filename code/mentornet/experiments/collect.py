"""Collects the accuracies of the grid's runs (commands/train_studentnet_*.sh) into tables.

Walks ROOT/<dataset>/<studentnet>/<noise_fraction>/<method>/eval_val/accuracy.csv, the files
the eval job writes (rows `global_step,accuracy,loss`, an optional header line; a step
evaluated twice keeps its last row), and makes, per dataset and StudentNet, a table in the
shape of the original README: a row per noise fraction, a column per method (baseline,
self_paced, focal_loss, mentornet_pd, mentornet_dd, then any other method found), the best
accuracy of each row in bold, `-` where there is no result. A noise directory that is not a
fraction (human noise, e.g. human_worse_label) is a row after the fractions.
  best:  the highest accuracy over all evaluated checkpoints;
  final: the accuracy of the last evaluated checkpoint (largest global step).
Each run's precision comes from its train/train_config.json; runs of different precisions go
to separate tables, each titled with its precision. Directories in the original repository's
layout (`resnet`, `selfpaced`, `focalloss`, `mentornet_pd1_g_1`, `mentornet_dd1`) are read
under the names of the method table (`mentornet.config.method_settings`).
"""
import csv
import os

from mentornet.config import method_settings
from mentornet.config import train_config

METHODS = method_settings.ORIGINAL_METHODS
NOISE_FRACTIONS = tuple("%g" % noise for noise in method_settings.NOISE_FRACTIONS)
DATASET_ORDER = ("cifar10", "cifar100")
STUDENTNET_ORDER = ("resnet101", "inception")
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
STUDENTNET_TITLES = {"resnet101": "ResNet", "inception": "Inception"}
# Directory names of the original commands/ scripts -> names used here.
STUDENTNET_ALIASES = {"resnet": "resnet101"}
METHOD_ALIASES = {m.original_dir: name for name, m in method_settings.METHODS.items()
                  if m.original_dir and m.original_dir != name}
METRICS = ("best", "final")

# Test accuracies reported by the original authors (Jiang et al.) in the README of
# google/mentornet ("Performance"), keyed dataset -> studentnet -> noise fraction -> method.
ORIGINAL_RESULTS = {
    "cifar10": {
        "resnet101": {
            "0.2": dict(zip(METHODS, (0.796, 0.822, 0.797, 0.910, 0.914))),
            "0.4": dict(zip(METHODS, (0.568, 0.802, 0.634, 0.776, 0.887))),
            "0.8": dict(zip(METHODS, (0.238, 0.297, 0.25, 0.283, 0.463))),
        },
        "inception": {
            "0.2": dict(zip(METHODS, (0.775, 0.784, 0.747, 0.798, 0.800))),
            "0.4": dict(zip(METHODS, (0.72, 0.733, 0.695, 0.731, 0.763))),
            "0.8": dict(zip(METHODS, (0.29, 0.272, 0.309, 0.312, 0.461))),
        },
    },
    "cifar100": {
        "resnet101": {
            "0.2": dict(zip(METHODS, (0.624, 0.652, 0.613, 0.733, 0.726))),
            "0.4": dict(zip(METHODS, (0.448, 0.509, 0.467, 0.567, 0.675))),
            "0.8": dict(zip(METHODS, (0.084, 0.089, 0.079, 0.193, 0.301))),
        },
        "inception": {
            "0.2": dict(zip(METHODS, (0.42, 0.408, 0.391, 0.451, 0.466))),
            "0.4": dict(zip(METHODS, (0.346, 0.32, 0.313, 0.386, 0.411))),
            "0.8": dict(zip(METHODS, (0.108, 0.091, 0.107, 0.125, 0.203))),
        },
    },
}


def read_accuracy_csv(path):
  """Returns {global_step: accuracy} of an accuracy.csv, the last row winning for a step.

  Header lines, blank lines and malformed rows (such as a row being written) are skipped.
  """
  per_step = {}
  with open(path, newline="") as f:
    for row in csv.reader(f):
      if len(row) < 2:
        continue
      try:
        step = int(float(row[0]))
        accuracy = float(row[1])
      except ValueError:
        continue
      per_step[step] = accuracy
  return per_step


def summarize(per_step):
  """{"best", "final", "best_step", "final_step", "num_evals"} of {step: accuracy}, or None."""
  if not per_step:
    return None
  final_step = max(per_step)
  best_step = max(per_step, key=lambda step: (per_step[step], step))
  return {
      "best": per_step[best_step],
      "best_step": best_step,
      "final": per_step[final_step],
      "final_step": final_step,
      "num_evals": len(per_step),
  }


def _canonical_studentnet(name):
  return STUDENTNET_ALIASES.get(name, name)


def collect(root, studentnet=None):
  """Reads every ROOT/<dataset>/<studentnet>/<noise>/<method>/eval_val/accuracy.csv.

  Args:
    root: the OUTPUT_ROOT of the training scripts.
    studentnet: keep only this StudentNet (None: all).

  Returns:
    {dataset: {studentnet: {noise: {method: summary}}}}, summary as in `summarize` plus
    "path" and "precision" (the Keras policy its train/train_config.json records; None when
    there is no record). Runs without any evaluated checkpoint are left out.
  """
  if studentnet is not None:
    studentnet = _canonical_studentnet(studentnet)
  results = {}
  for dataset in _subdirs(root):
    for net_dir in _subdirs(os.path.join(root, dataset)):
      net = _canonical_studentnet(net_dir)
      if studentnet is not None and net != studentnet:
        continue
      for noise in _subdirs(os.path.join(root, dataset, net_dir)):
        for method_dir in _subdirs(os.path.join(root, dataset, net_dir, noise)):
          path = os.path.join(root, dataset, net_dir, noise, method_dir, "eval_val",
                              "accuracy.csv")
          if not os.path.isfile(path):
            continue
          summary = summarize(read_accuracy_csv(path))
          if summary is None:
            continue
          summary["path"] = path
          summary["precision"] = _run_precision(os.path.dirname(os.path.dirname(path)))
          method = METHOD_ALIASES.get(method_dir, method_dir)
          runs = results.setdefault(dataset, {}).setdefault(net, {}).setdefault(noise, {})
          is_alias = method_dir != method or net_dir != net
          if method in runs and is_alias:
            continue  # A run under the names used here wins over the original"s layout.
          runs[method] = summary
  return results


def _run_precision(run_dir):
  """The Keras policy a run trained (and was evaluated) in, or None without a record."""
  record = train_config.read_train_config(os.path.join(run_dir, "train"))
  if not record:
    return None
  return train_config.keras_policy_name(train_config.recorded_policy(record))


def _subdirs(path):
  try:
    return sorted(name for name in os.listdir(path)
                  if os.path.isdir(os.path.join(path, name)) and not name.startswith("."))
  except OSError:
    return []


def _ordered(names, preferred):
  names = set(names)
  first = [name for name in preferred if name in names]
  return first + sorted(names - set(first))


def _noise_key(noise):
  try:
    return (0, float(noise), noise)
  except ValueError:
    return (1, 0.0, noise)


def _fmt(value):
  return "-" if value is None else "%.3f" % value


def format_table(runs, metric, title, original=None):
  """One markdown table: rows noise fractions, columns methods.

  Args:
    runs: {noise: {method: summary}} of one dataset and StudentNet.
    metric: "best" or "final".
    title: the line above the table.
    original: None, or {noise: {method: accuracy}} to show in parentheses after ours.
  """
  original = original or {}
  methods = _ordered(
      set(METHODS).union(*(set(r) for r in runs.values()), *(set(r) for r in original.values())),
      METHODS)
  noises = sorted(set(NOISE_FRACTIONS) | set(runs) | set(original), key=_noise_key)
  lines = [title, ""]
  if original:
    lines += ["Cells: ours (the original authors' README).", ""]
  lines.append("| " + " | ".join(("noise_fraction",) + tuple(methods)) + " |")
  lines.append("|" + " ---: |" * (len(methods) + 1))
  for noise in noises:
    ours = {m: s[metric] for m, s in runs.get(noise, {}).items()}
    shown = {m: _fmt(ours.get(m)) for m in methods}
    best = max((float(v) for v in shown.values() if v != "-"), default=None)
    cells = [noise]
    for method in methods:
      cell = shown[method]
      if best is not None and cell != "-" and float(cell) == best:
        cell = "**%s**" % cell
      if original:
        cell += " (%s)" % _fmt(original.get(noise, {}).get(method))
      cells.append(cell)
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def format_tables(results, metric="both", original=None, studentnet=None):
  """Markdown tables of `collect`"s results, per dataset and StudentNet.

  Args:
    results: the output of `collect`.
    metric: "best", "final" or "both" (a table of each).
    original: None, or results in the shape of ORIGINAL_RESULTS to print beside ours; their
      datasets and StudentNets get a table even where we have no result.
    studentnet: keep only this StudentNet (None: all).
  """
  if metric not in METRICS + ("both",):
    raise ValueError("metric must be best, final or both, not %r" % (metric,))
  metrics = METRICS if metric == "both" else (metric,)
  original = original or {}
  if studentnet is not None:
    studentnet = _canonical_studentnet(studentnet)
    results, original = [
        {ds: {net: runs for net, runs in nets.items() if net == studentnet}
         for ds, nets in tree.items()}
        for tree in (results, original)]
  tables = []
  for dataset in _ordered(set(results) | set(original), DATASET_ORDER):
    nets = set(results.get(dataset, {})) | set(original.get(dataset, {}))
    for net in _ordered(nets, STUDENTNET_ORDER):
      runs = results.get(dataset, {}).get(net, {})
      orig = original.get(dataset, {}).get(net)
      # One table per precision: runs of two precisions are never compared in one table.
      for policy, policy_runs in _by_precision(runs):
        shown = "" if policy is None else f" ({policy})"
        for m in metrics:
          title = (f"**{DATASET_TITLES.get(dataset, dataset)} {STUDENTNET_TITLES.get(net, net)}"
                   f"**: {m} accuracy{shown}")
          tables.append(format_table(policy_runs, m, title, orig))
  return "\n\n".join(tables) + ("\n" if tables else "")


def _by_precision(runs):
  """[(precision, {noise: {method: summary}})], one entry per precision among `runs` (a
  single (None or the precision, runs) when they agree or have no record)."""
  policies = sorted({s.get("precision") for r in runs.values() for s in r.values()},
                    key=lambda p: (p is None, p or ""))
  if len(policies) <= 1:
    return [(policies[0] if policies else None, runs)]
  return [(policy, {noise: {m: s for m, s in r.items() if s.get("precision") == policy}
                    for noise, r in runs.items()}) for policy in policies]
