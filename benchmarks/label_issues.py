"""Finding wrong labels: our single-run rankings against confident learning (cleanlab 2.9).

On one noisy training set (reproduce_small's data flags and regime, `SmallConfig` defaults)
and one StudentNet and budget:
- one run of each curriculum in --methods (`runner.train_and_report`); each run's trust report
  holds its end-of-training trust and loss and its training dynamics (accumulated in the train
  step), from which every ranking of `mentornet.analysis.label_issues.RANKINGS` is scored and
  flags its `round(estimated noise rate * n)` most suspect examples (no clean labels used);
  rankings are named `<method>/<ranking>` and cost one training each;
- `cleanlab_cv5`: cleanlab's `find_label_issues` on 5-fold cross-validated out-of-sample
  probabilities (stratified folds of the given labels; each fold trains the same StudentNet
  with the same steps per example, i.e. max_number_of_steps * 4/5 steps, and the same scaled
  schedule), as cleanlab's documentation recommends; its AUC ranks by cleanlab's
  self-confidence label quality;
- `cleanlab_in_sample`: the same on the baseline run's in-sample probabilities (one training).
For each: flagged count, precision, recall and F1 of the flagged set against the known wrong
labels, ROC AUC of the ranking, trainings (and `compute`: training steps in units of one
full run), seconds (the trainings' wall time, trust report included, plus the ranking's own);
and, for scale, the F1 of flagging every example (2r / (1 + r) for a share r of wrong labels).
Writes OUTPUT_DIR/label_issues.md and .json (OUTPUT_DIR: by default one per noisy training
set); --json=PATH writes the JSON there too: {"rankings": [{"name", "trainings", "flagged",
"precision", "recall", "f1", "auc", "seconds", "compute"}, ...], "setup": {...}}. Finished runs
(OUTPUT_DIR/runs/<name>/result.json) are reused, so more --methods can be added later, and
--trainings=<names> trains only those runs (e.g. cleanlab_fold0,cleanlab_fold1 in one process and
baseline,cleanlab_fold2 in another, after the first has written the data) without a table.

  python benchmarks/label_issues.py --data=../shared/data/cifar10_subset.npz \\
    --noise_fraction=0.4

cleanlab is a benchmark extra (pip install ".[bench]"), imported only when a cleanlab entry
is computed.

How the winner (`label_issues.WINNING_RANKING`, used by the trust report) was chosen, before
any judged (seed-0) result was read: this script with --seed=1 --methods=baseline --nocleanlab
at 40% symmetric and at 40% asymmetric noise (noise, subsample and split generated for the
choice), then --choose_from=<their JSONs>: the ranking with the highest mean F1 of its flagged
set over both (ties: mean ROC AUC). The count rule (`label_issues.COUNT_RULE`) was chosen the
same way by --choose_count_from=<trust report CSVs of choice runs, clean training sets among
them> (`choose_count_rule`).
"""
import dataclasses
import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, _ROOT)  # this checkout's shipped MentorNets (mentornet_models)
sys.path.insert(0, os.path.join(_ROOT, "code"))  # and package

from mentornet.analysis import label_issues  # noqa: E402
from mentornet.analysis import trust_report  # noqa: E402
from mentornet.config import train_config  # noqa: E402
from mentornet.curricula import factory as curriculum_factory  # noqa: E402
from mentornet.data import human_noise  # noqa: E402
from mentornet.data import noise  # noqa: E402
from mentornet.errors import UsageError  # noqa: E402
from mentornet.errors import exit_on_usage_error  # noqa: E402
from mentornet.experiments import reproduce_small  # noqa: E402
from mentornet.experiments import runner  # noqa: E402
from mentornet.models import studentnets  # noqa: E402

_D = reproduce_small.SmallConfig()
DEFAULT_METHODS = ("baseline", "mentornet_pd", "mentornet_dd", "data_parameters")
FOLDS = 5
CLEAN_FLAG_LIMIT = 0.05  # a count rule may flag at most this share of a clean training set
CLEANLAB_MISSING = ("cleanlab is not installed: pip install \".[bench]\" (cleanlab==2.9.*, "
                    "scikit-learn), or pass --nocleanlab")

flags.DEFINE_string("data", _D.data, "npz with x_train, y_train and x_test, y_test.")
flags.DEFINE_integer("examples_per_class", _D.examples_per_class, "Training images per class "
                     "(0: all).")
flags.DEFINE_enum("noise_type", _D.noise_type, list(noise.NOISE_TYPES) + [human_noise.NOISE_TYPE],
                  "Label noise: symmetric, asymmetric or human (--human_labels_file).")
flags.DEFINE_float("noise_fraction", _D.noise_fraction, "Synthetic label noise.")
flags.DEFINE_string("human_labels_file", None, "CIFAR-10N / CIFAR-100N labels (.pt or .npy).")
flags.DEFINE_string("human_label_key", None, "Its label key.")
flags.DEFINE_integer("seed", _D.seed, "Seed of the noise, split, folds and training.")
flags.DEFINE_string("output_dir", None, "Data, runs and tables; default "
                    "runs/label_issues/<noise_type>_<noise_fraction>_seed<seed> (human: "
                    "human_<key>_seed<seed>).")
flags.DEFINE_list("methods", list(DEFAULT_METHODS), "Curricula with one run each.")
flags.DEFINE_bool("cleanlab", True, "Also run cleanlab (5-fold and in-sample).")
flags.DEFINE_integer("folds", FOLDS, "Cross-validation folds of the cleanlab reference.")
flags.DEFINE_string("json", None, "Also write the JSON here.")
flags.DEFINE_list("trainings", [], "Only these trainings (run names: a method of --methods or "
                  "cleanlab_fold<k>), then stop without a table: several processes can share "
                  "the work (start one first to write the data); a run without the flag then "
                  "reuses them and writes the table.")
flags.DEFINE_list("choose_from", [], "Instead of a benchmark: the JSONs of choice runs (noise "
                  "generated for the choice, never the judged data); prints every single-run "
                  "ranking's mean F1 over them and the winner.")
flags.DEFINE_list("choose_count_from", [], "Instead of a benchmark: trust report CSVs of choice "
                  "runs with clean labels (noisy ones, and clean training sets such as an "
                  "oracle's); prints each count rule's flagged share and F1 with the winning "
                  "ranking, and the rule chosen (`choose_count_rule`).")
flags.DEFINE_integer("max_number_of_steps", _D.max_number_of_steps, "Steps of a full run.")
flags.DEFINE_integer("batch_size", _D.batch_size, "Images per step.")
flags.DEFINE_integer("num_residual_units", _D.num_residual_units, "ResNet units per stage.")
flags.DEFINE_list("resnet_widths", [str(w) for w in _D.resnet_widths], "ResNet widths.")
flags.DEFINE_string("mentornet_dd_dir", _D.mentornet_dd_dir, "MentorNet DD of mentornet_dd.")
flags.DEFINE_integer("verbose", 0, "Keras progress output.")

FLAGS = flags.FLAGS


def default_output_dir():
  """runs/label_issues/<noise>_seed<seed> of the flags: one directory a noisy training set."""
  noise_name = (f"human_{FLAGS.human_label_key or 'default'}"
                if FLAGS.noise_type == human_noise.NOISE_TYPE
                else f"{FLAGS.noise_type}_{FLAGS.noise_fraction:g}")
  return os.path.join("runs", "label_issues", f"{noise_name}_seed{FLAGS.seed}")


def small_config():
  """The `SmallConfig` of the flags (validated)."""
  config = reproduce_small.SmallConfig(
      data=FLAGS.data, noise_fraction=FLAGS.noise_fraction, noise_type=FLAGS.noise_type,
      human_labels_file=FLAGS.human_labels_file, human_label_key=FLAGS.human_label_key,
      examples_per_class=FLAGS.examples_per_class,
      output_dir=FLAGS.output_dir or default_output_dir(),
      methods=tuple(FLAGS.methods), max_number_of_steps=FLAGS.max_number_of_steps,
      batch_size=FLAGS.batch_size, num_residual_units=FLAGS.num_residual_units,
      resnet_widths=tuple(int(w) for w in FLAGS.resnet_widths), seed=FLAGS.seed,
      mentornet_dd_dir=FLAGS.mentornet_dd_dir, verbose=FLAGS.verbose,
      noise_fraction_given=FLAGS["noise_fraction"].present)
  reproduce_small.validate(config)
  if "oracle" in config.methods:
    raise UsageError("--methods=oracle trains on clean labels; it ranks nothing")
  if FLAGS.folds < 2:
    raise UsageError(f"--folds={FLAGS.folds} must be at least 2")
  known = list(config.methods) + (fold_names() if FLAGS.cleanlab else [])
  unknown = [name for name in FLAGS.trainings if name not in known]
  if unknown:
    raise UsageError(f"unknown --trainings {','.join(unknown)}; choose from {','.join(known)}")
  return config


def fold_names():
  return [f"cleanlab_fold{fold}" for fold in range(FLAGS.folds)]


def wanted(name):
  """Whether this invocation trains (or reuses) the run `name` (all without --trainings)."""
  return not FLAGS.trainings or name in FLAGS.trainings


def train_config_of(config, method, data_dir, run_dir, steps, dataset_name):
  """(TrainConfig, make_curriculum) of `method` on `data_dir` for `steps` steps."""
  curriculum_name, _, settings = reproduce_small.method_run_settings(config, method)
  train = train_config.TrainConfig(
      train_log_dir=os.path.join(run_dir, "train"), data_dir=data_dir,
      dataset_name=dataset_name, studentnet="resnet101", curriculum=curriculum_name,
      batch_size=config.batch_size, max_number_of_steps=steps, save_interval_secs=300,
      num_residual_units=config.num_residual_units, resnet_widths=tuple(config.resnet_widths),
      random_seed=config.seed,
      learning_rate_boundaries=studentnets.scaled_resnet_boundaries(steps),
      verbose=config.verbose, curriculum_settings=settings, augmentation=config.augmentation,
      mixed_precision=config.mixed_precision)
  return train, curriculum_factory.make_curriculum_factory(curriculum_name, settings)


def predicted_probabilities(student, data_dir, dataset_name):
  """(ids int64 [n], softmax float64 [n, classes]) of `student` over a train split."""
  import tensorflow as tf

  from mentornet.data import pipeline
  split = pipeline.describe_split(data_dir, dataset_name, "train")
  ids, probs = [], []
  for features, _ in pipeline.make_dataset(split, dataset_name, 256, training=False,
                                           cache=False):
    logits = tf.cast(student(features["image"], training=False), tf.float32)
    probs.append(tf.nn.softmax(logits).numpy().astype(np.float64))
    ids.append(features["id"].numpy())
  return np.concatenate(ids), np.concatenate(probs)


def train_once(config, method, data_dir, run_dir, steps, dataset_name, predict_dir=None):
  """Trains (or reuses) one run; returns {seconds, steps, csv[, probs]}: with `predict_dir`
  (a train split), the trained StudentNet's softmax [n, classes] of its examples by id (saved
  as run_dir/probs.npy)."""
  saved = runner.load_result(run_dir)
  probs_path = os.path.join(run_dir, "probs.npy")
  if saved is not None and (predict_dir is None or os.path.exists(probs_path)):
    print(f"{run_dir}: reusing its result", flush=True)
  else:
    start = time.time()
    train, make_curriculum = train_config_of(config, method, data_dir, run_dir, steps,
                                             dataset_name)
    outcome = runner.train_and_report(train, make_curriculum, clear_session=True)
    seconds = time.time() - start
    if predict_dir is not None:
      ids, probs = predicted_probabilities(outcome["model"].student, predict_dir, dataset_name)
      ordered = np.zeros_like(probs)
      ordered[ids] = probs
      np.save(probs_path, ordered)
    saved = {"seconds": round(seconds, 1), "steps": outcome["global_step"],
             "trust_report": outcome["trust_report"]}
    runner.save_result(run_dir, saved)
    print(f"{run_dir}: {saved['steps']} steps, {saved['seconds']:.0f} s", flush=True)
  saved["csv"] = os.path.join(run_dir, "train", trust_report.DEFAULT_CSV_NAME)
  if predict_dir is not None:
    saved["probs"] = np.load(probs_path)
  return saved


def entry(name, trainings, compute, seconds, scores, flagged, corrupted):
  """One table row: flagged-set quality and ranking AUC against `corrupted` [n]."""
  quality = label_issues.flagged_quality(flagged, corrupted)
  return {"name": name, "trainings": trainings, "compute": round(compute, 3),
          "flagged": int(np.sum(flagged)), **quality,
          "auc": trust_report.roc_auc(scores, corrupted), "seconds": round(seconds, 1)}


def run_rankings(method, run, corrupted_by_id):
  """Rows of every ranking of one curriculum run (its trust report CSV)."""
  columns = trust_report.read_csv(run["csv"])
  order = np.argsort(columns["example_id"])
  columns = {name: values[order] for name, values in columns.items()}
  columns["trust_score"] = trust_report.tie_broken_trust(columns["trust"], columns["loss"])
  corrupted = corrupted_by_id[columns["example_id"]]
  rows = []
  for name in label_issues.RANKINGS:
    if name == "mean_v" and method not in ("mentornet_pd", "mentornet_dd", "self_paced"):
      continue  # v is 1 throughout: the ranking would be the mean loss's.
    if name in label_issues.DYNAMICS_RANKINGS and "seen" not in columns:
      continue
    start = time.time()
    scores, flagged, _ = label_issues.flag_ranking(name, columns)
    rows.append(entry(f"{method}/{name}", 1, 1.0, run["seconds"] + time.time() - start, scores,
                      flagged, corrupted))
  return rows


def import_cleanlab():
  try:
    from cleanlab import filter as cleanlab_filter
    from cleanlab import rank as cleanlab_rank
  except ImportError as e:
    raise UsageError(CLEANLAB_MISSING) from e
  return cleanlab_filter, cleanlab_rank


def cleanlab_row(name, labels, probs, trainings, compute, seconds, corrupted):
  """cleanlab 2.9's find_label_issues (defaults) on `probs` [n, classes]."""
  cleanlab_filter, cleanlab_rank = import_cleanlab()
  start = time.time()
  flagged = cleanlab_filter.find_label_issues(labels=labels, pred_probs=probs)
  scores = -cleanlab_rank.get_label_quality_scores(labels, probs)
  return entry(name, trainings, compute, seconds + time.time() - start, scores, flagged,
               corrupted)


def cross_validated_probabilities(config, dataset_name, train_dir, raw, num_classes):
  """(out-of-sample softmax [n, classes] by id, seconds, trainings, compute) of K folds."""
  from sklearn.model_selection import StratifiedKFold

  from mentornet.data import records
  folds = StratifiedKFold(FLAGS.folds, shuffle=True, random_state=config.seed)
  n = len(raw["label"])
  probs = np.zeros([n, num_classes])
  seconds = compute = 0.0
  for fold, (train_index, held_out) in enumerate(folds.split(np.zeros(n), raw["label"])):
    if not wanted(f"cleanlab_fold{fold}"):
      continue
    fold_dir = os.path.join(config.output_dir, "data", f"fold{fold}")
    if not os.path.exists(os.path.join(fold_dir, "ids.npy")):
      for split, index in (("train", train_index), ("held_out", held_out)):
        records.write_shards(os.path.join(fold_dir, split), dataset_name, "train", {
            "image": raw["image"][index], "label": raw["label"][index],
            "clean_label": raw["clean_label"][index],
            "id": np.arange(len(index), dtype=np.int64)}, num_shards=2)
      np.save(os.path.join(fold_dir, "ids.npy"), raw["id"][held_out])
    steps = max(1, round(config.max_number_of_steps * len(train_index) / n))
    run = train_once(config, "baseline", os.path.join(fold_dir, "train"), os.path.join(
        config.output_dir, "runs", f"cleanlab_fold{fold}"), steps, dataset_name,
        predict_dir=os.path.join(fold_dir, "held_out"))
    probs[np.load(os.path.join(fold_dir, "ids.npy"))] = run["probs"]
    seconds += run["seconds"]
    compute += run["steps"] / config.max_number_of_steps
  return probs, seconds, FLAGS.folds, compute


def format_markdown(config, stats, rows, total_seconds):
  """The table as markdown."""
  widths = ",".join(map(str, config.resnet_widths))
  lines = [
      f"Finding wrong labels: {stats['dataset_name']} subset, {stats['num_train']} noisy "
      f"training images ({reproduce_small.noise_description(config)}, realized noise "
      f"{stats['realized_noise']:.3f}), StudentNet ResNet units={config.num_residual_units} "
      f"widths={widths}, {config.max_number_of_steps} steps of batch {config.batch_size} a "
      f"full run, augmentation {config.augmentation}, seed {config.seed}. Flagging every "
      f"example would give F1 {stats['flag_all_f1']:.3f}.", "",
      "| ranking | trainings | compute | flagged | precision | recall | F1 | ROC AUC | "
      "seconds |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

  def number(value, spec):
    return "-" if value is None else format(value, spec)

  for row in rows:
    lines.append(f"| {row['name']} | {row['trainings']} | {row['compute']:.1f} | "
                 f"{row['flagged']} | {number(row['precision'], '.3f')} | "
                 f"{number(row['recall'], '.3f')} | {row['f1']:.3f} | "
                 f"{number(row['auc'], '.3f')} | {row['seconds']:.0f} |")
  lines += ["", "Ours (`<method>/<ranking>`): one training; flagged = the round(estimated noise "
            "rate x n) most suspect, the rate by `label_issues.count_rate` (a two-component "
            "mixture on the ranking's scores, capped by the share of negative mean margins over "
            "its window; no clean labels). cleanlab: find_label_issues (2.9 defaults) on 5-fold "
            "out-of-sample (`cleanlab_cv5`) or the baseline run's in-sample probabilities. "
            "compute: training steps in full runs. seconds: the trainings' wall time on this "
            "machine plus the ranking's.", "",
            f"This invocation: {total_seconds / 60:.1f} min."]
  return "\n".join(lines) + "\n"


def run(config):
  """Trains what is missing, scores every ranking; returns the JSON dict."""
  start = time.time()
  if FLAGS.cleanlab:
    import_cleanlab()  # Fails before anything is written when it is missing.
  dataset_name, dirs, stats = reproduce_small.prepare_data(config)
  if config.human:
    config = dataclasses.replace(
        config, noise_fraction=stats["realized_noise"],
        human_label_key=human_noise.resolve_key(dataset_name, config.human_label_key))
  from mentornet.data import pipeline
  from mentornet.data import records
  split = pipeline.describe_split(dirs["train"], dataset_name, "train")
  raw = records.read_all(split.files, dataset_name)
  order = np.argsort(raw["id"])
  raw = {name: values[order] for name, values in raw.items()}
  corrupted = raw["label"] != raw["clean_label"]
  stats = {**stats, "flag_all_f1": label_issues.flagged_quality(np.ones_like(corrupted),
                                                                corrupted)["f1"]}
  rows = []
  for method in config.methods:
    if not wanted(method):
      continue
    run_result = train_once(config, method, dirs["train"], os.path.join(
        config.output_dir, "runs", method), config.max_number_of_steps, dataset_name,
        predict_dir=dirs["train"] if FLAGS.cleanlab and method == "baseline" else None)
    rows += run_rankings(method, run_result, corrupted)
    if FLAGS.cleanlab and method == "baseline":
      rows.append(cleanlab_row("cleanlab_in_sample", raw["label"], run_result["probs"], 1, 1.0,
                               run_result["seconds"], corrupted))
  if FLAGS.cleanlab:
    probs, seconds, trainings, compute = cross_validated_probabilities(
        config, dataset_name, dirs["train"], raw, split.num_classes)
  if FLAGS.trainings:
    print(f"trained {','.join(FLAGS.trainings)}; run without --trainings for the table",
          flush=True)
    return None
  if FLAGS.cleanlab:
    rows.append(cleanlab_row("cleanlab_cv5" if FLAGS.folds == 5 else f"cleanlab_cv{FLAGS.folds}",
                             raw["label"], probs, trainings, compute, seconds, corrupted))
  result = {"rankings": rows, "setup": {
      "noise": reproduce_small.noise_description(config), "seed": config.seed,
      "num_train": stats["num_train"], "realized_noise": stats["realized_noise"],
      "flag_all_f1": stats["flag_all_f1"],
      "max_number_of_steps": config.max_number_of_steps, "batch_size": config.batch_size,
      "resnet_widths": list(config.resnet_widths), "methods": list(config.methods),
      "winning_ranking": label_issues.WINNING_RANKING}}
  markdown = format_markdown(config, stats, rows, time.time() - start)
  for path in [os.path.join(config.output_dir, "label_issues.json")] + (
      [FLAGS.json] if FLAGS.json else []):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)
  with open(os.path.join(config.output_dir, "label_issues.md"), "w", encoding="utf-8") as f:
    f.write(markdown)
  print(markdown, flush=True)
  return result


def choose(paths):
  """(winner, {ranking: (mean F1, mean AUC)}) over the single-run rankings (one training) of
  the JSONs at `paths`: the highest mean F1 of the flagged set, ties by mean AUC."""
  tables = []
  for path in paths:
    with open(path, encoding="utf-8") as f:
      tables.append({row["name"]: row for row in json.load(f)["rankings"]
                     if row["trainings"] == 1 and not row["name"].startswith("cleanlab")})
  names = [name for name in tables[0] if all(name in table for table in tables)]
  means = {name: (float(np.mean([t[name]["f1"] for t in tables])),
                  float(np.mean([t[name]["auc"] for t in tables]))) for name in names}
  return max(names, key=lambda name: means[name]), means


def choose_count_rule(tables, ranking=label_issues.WINNING_RANKING):
  """(winner, {rule: (mean F1 on the noisy tables, largest share flagged of a clean one)},
  [{rule: (rate, F1 or None for a clean table, share flagged)} per table]).

  Args:
    tables: trust report columns (`trust_report.read_csv`) of choice runs whose clean labels
      are known: noisy training sets, and clean ones (every given label correct).
  The rule, fixed before the choice: a count rule that flags more than `CLEAN_FLAG_LIMIT` of
  any clean set is out; of the rest, the highest mean F1 of `ranking`'s flagged set over the
  noisy sets (one vote each).
  """
  per_table = []
  for columns in tables:
    corrupted = columns["given_label"] != columns["clean_label"]
    results = {}
    for rule in label_issues.COUNT_RULES:
      _, flagged, rate = label_issues.flag_ranking(ranking, columns, rule)
      f1 = label_issues.flagged_quality(flagged, corrupted)["f1"] if corrupted.any() else None
      results[rule] = (rate, f1, float(np.mean(flagged)))
    per_table.append(results)
  scores = {}
  for rule in label_issues.COUNT_RULES:
    f1s = [table[rule][1] for table in per_table if table[rule][1] is not None]
    clean_shares = [table[rule][2] for table in per_table if table[rule][1] is None]
    scores[rule] = (float(np.mean(f1s)) if f1s else 0.0, max(clean_shares, default=0.0))
  allowed = [rule for rule in label_issues.COUNT_RULES if scores[rule][1] <= CLEAN_FLAG_LIMIT]
  if not allowed:
    raise UsageError(f"every count rule flags more than {CLEAN_FLAG_LIMIT:.0%} of a clean set")
  return max(allowed, key=lambda rule: scores[rule][0]), scores, per_table


def read_choice_tables(paths):
  """Trust report columns of each CSV at `paths`; UsageError without clean labels."""
  tables = []
  for path in paths:
    if not os.path.exists(path):
      raise UsageError(f"--choose_count_from: no such file {path}")
    columns = trust_report.read_csv(path)
    if np.any(columns["clean_label"] < 0):
      raise UsageError(f"--choose_count_from: {path} has no clean labels")
    tables.append(columns)
  return tables


@exit_on_usage_error
def main(argv):
  del argv
  if FLAGS.choose_count_from:
    tables = read_choice_tables(FLAGS.choose_count_from)
    winner, scores, per_table = choose_count_rule(tables)
    for path, columns, results in zip(FLAGS.choose_count_from, tables, per_table):
      noise_rate = np.mean(columns["given_label"] != columns["clean_label"])
      print(f"{path}: noise {noise_rate:.3f}; " + "; ".join(
          f"{rule} {rate:.3f}" + ("" if f1 is None else f" F1 {f1:.3f}")
          for rule, (rate, f1, _) in results.items()))
    for rule, (f1, clean) in scores.items():
      print(f"{rule:<16} mean F1 {f1:.3f}  most flagged of a clean set {clean:.3f}")
    print(f"count rule: {winner}")
    return
  if FLAGS.choose_from:
    winner, means = choose(FLAGS.choose_from)
    for name, (f1, auc) in sorted(means.items(), key=lambda item: -item[1][0]):
      print(f"{name:<32} mean F1 {f1:.3f}  mean AUC {auc:.3f}")
    print(f"winner: {winner}")
    return
  run(small_config())


if __name__ == "__main__":
  app.run(main)
