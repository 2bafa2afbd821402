"""Reduced-scale reproduction of the README tables on CPU, with rivals and a trust report.

  python commands/reproduce_small.py --data=../shared/data/cifar10_subset.npz \
    --noise_fraction=0.4 --output_dir=runs/small

On an npz with x_train, y_train and x_test, y_test (or x_val, y_val as the test split):
1. keeps --examples_per_class training images a class, corrupts their labels (--noise_type,
   symmetric is the original's), holds out a validation split cut from the (noisy) training
   set, and writes TFRecords with clean labels and example ids;
2. trains the same small StudentNet with the same step budget for every method: baseline,
   self_paced, focal_loss, mentornet_pd, mentornet_dd (the shipped MentorNets, with the
   original commands' settings for this noise level and p from --loss_p; DD from
   --mentornet_dd_dir), data_parameters, and a clean-label oracle (only the examples whose
   label was not corrupted);
3. evaluates test (and validation) accuracy every --eval_every steps, keeps each method's
   per-example trust report, and writes DIR/results.json, DIR/results.md and
   DIR/test_accuracy.png.
A method whose DIR/runs/<method>/result.json exists is not trained again.

Real human noise instead of step 1's symmetric noise: --noise_type=human
--human_labels_file=CIFAR-10_human.pt (or .npy) [--human_label_key=worse_label]; the npz needs
train_index (the CIFAR training index of each image), the oracle keeps the examples whose human
label is right, and each method's settings are those for the measured noise rate.

The defaults are a regime where the baseline memorizes the wrong labels within 100 epochs
(docs/regime_study.md): 222 images a class, ResNet-8 widths 16,16,32,64, 1,600 steps of 128,
training images flipped but not cropped (--augmentation=flip, a declared departure of the
reduced regime), every MentorNet at p = 1 - noise (--loss_p=clean_share).
"""
import json
import os
import sys
import time

from absl import app
from absl import flags
import keras
import numpy as np

_REPO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# This checkout's package and MentorNets (mentornet_models), before any installed copy.
sys.path[:0] = [os.path.join(_REPO_ROOT, "code"), _REPO_ROOT]
# pylint: disable=wrong-import-position
from mentornet.data import pipeline as data_lib
from mentornet.data import human_noise
from mentornet.analysis import learning_curves
from mentornet.config import method_settings as method_table
from mentornet.data import noise
from mentornet.models import mentornet_net
from mentornet.data import records
from mentornet.models import studentnets
from mentornet.experiments import runner
from mentornet.curricula import factory as curriculum_factory
from mentornet.config import train_config
from mentornet.config import defaults
from mentornet.training import precision
from mentornet.analysis import trust_report
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error

flags.DEFINE_string("data", None, "npz with x_train, y_train and x_test, y_test (or x_val, y_val).")
flags.DEFINE_float("noise_fraction", 0.4, "Label noise of the training set. With "
                   "--noise_type=human: set to the measured noise rate of the human labels.")
flags.DEFINE_enum("noise_type", "symmetric", list(noise.NOISE_TYPES) + [human_noise.NOISE_TYPE],
                  "Label noise: symmetric (the original's), asymmetric (class flips), or human "
                  "(--human_labels_file).")
flags.DEFINE_string("human_labels_file", None,
                    "CIFAR-10N / CIFAR-100N labels (.pt or .npy) for --noise_type=human.")
flags.DEFINE_string("human_label_key", None, "Its label key; default worse_label (CIFAR-10), "
                    "noisy_label (CIFAR-100).")
flags.DEFINE_integer("examples_per_class", 222, "Keep this many training images per class (a "
                     "seeded subsample, before the noise and the validation split); 0: all.")
flags.DEFINE_string("output_dir", "runs/reproduce_small", "Where data, runs and results go.")
flags.DEFINE_list("methods", "baseline,self_paced,focal_loss,mentornet_pd,mentornet_dd,"
                  "data_parameters,oracle", "Methods to run, in order.")
flags.DEFINE_integer("max_number_of_steps", 1600, "Training steps of every method (1,600 of "
                     "128 images = 100 epochs of the default 1,998 training images).")
flags.DEFINE_integer("batch_size", 128, "Images per step.")
flags.DEFINE_integer("eval_every", 50, "Evaluate validation and test accuracy every N steps.")
flags.DEFINE_integer("num_residual_units", 1, "StudentNet ResNet units per stage.")
flags.DEFINE_string("resnet_widths", "16,16,32,64", "StudentNet ResNet widths.")
flags.DEFINE_enum("augmentation", "flip", data_lib.AUGMENTATIONS,
                  "Training-image augmentation: crop_flip (the original's), flip (the reduced "
                  "regime's: without crops it memorizes within 100 epochs), none.")
flags.DEFINE_float("val_fraction", 0.1, "Part of the noisy training set held out for validation.")
flags.DEFINE_integer("seed", 0, "Seed of the noise, the split, initialization and data order.")
flags.DEFINE_float("loss_p_percentile", None, "Loss percentile of every MentorNet method; "
                   "default: --loss_p's.")
flags.DEFINE_string("mentornet_dd_dir", "small_nl_0.4_percentile_60/mentornet_dd",
                    "MentorNet of the mentornet_dd method: a directory or a path under "
                    "mentornet_models/models (default: learned from this regime's own StudentNet "
                    "by commands/train_mentornet_dd_small.sh; the original commands': "
                    "nl_0.2_percentile_90/mentornet_dd).")
flags.DEFINE_integer("verbose", 0, "Keras progress output.")
flags.DEFINE_enum("mixed_precision", train_config.TrainConfig.mixed_precision,
                  defaults.MIXED_PRECISION_POLICIES,
                  "Every method's StudentNet. " + defaults.MIXED_PRECISION_HELP)
# --loss_p=clean_share: every MentorNet method keeps about the share of examples whose label is
# right, p = 1 - noise rate (the written DD values of the original commands at 0.2 and 0.4 are
# the same, 0.8 and 0.6). Chosen for the reduced regime by noisy-validation accuracy
# (docs/regime_study.md), where it memorizes much sooner than the original and p = 0.7 keeps
# wrong labels that it then learns.
flags.DEFINE_enum("loss_p", "clean_share", method_table.LOSS_P_MODES,
                  "MentorNet loss percentile: clean_share = 1 - noise rate (at least 0.1); "
                  "effective = 0.7 as the original ran; written = the values its commands "
                  "wrote (see mentornet.config.method_settings).")
FLAGS = flags.FLAGS

# The original commands' methods take their settings from the package's table
# (mentornet.config.method_settings, --loss_p picks p); the others are defined here, a dict value
# keyed by noise fraction. Data parameters use the paper's noisy-label settings.
FROM_TABLE = "mentornet.config.method_settings"
METHODS = {
    **dict.fromkeys(method_table.ORIGINAL_METHODS, FROM_TABLE),
    # Instance parameters only, the paper's noisy-label learning rate 0.2: chosen over class +
    # instance parameters (lr_class_param 0.1 or 0.01) by noisy-validation accuracy.
    "data_parameters": {"curriculum": "data_parameters", "learn_class_parameters": False,
                        "learn_inst_parameters": True, "lr_inst_param": 0.2,
                        "wd_inst_param": 0.0},
    "oracle": {"curriculum": "baseline", "clean_only": True},
}


def method_settings(method, noise_fraction):
  """The method's curriculum settings at this noise level (dict values picked by noise)."""
  if METHODS[method] == FROM_TABLE:
    return method_table.curriculum_settings(method, noise_fraction, loss_p=FLAGS.loss_p)
  settings = {}
  for key, value in METHODS[method].items():
    if isinstance(value, dict):
      value = value[min(value, key=lambda p: abs(p - noise_fraction))]
    settings[key] = value
  return settings


def _load_npz(path):
  if not path or not os.path.exists(path):
    raise UsageError(f"--data={path} does not exist")
  arrays = np.load(path)
  test_keys = ("x_test", "y_test") if "x_test" in arrays else ("x_val", "y_val")
  for key in ("x_train", "y_train") + test_keys:
    if key not in arrays:
      raise UsageError(f"--data={path} lacks {key} (needs x_train, y_train and x_test, y_test "
                       "or x_val, y_val)")
  return (arrays["x_train"], arrays["y_train"].reshape(-1).astype(np.int64),
          arrays[test_keys[0]], arrays[test_keys[1]].reshape(-1).astype(np.int64))


def _human_labels(npz_path, dataset_name, num_classes, y_train, labels_file, label_key):
  """The human labels of the npz's training images, aligned by its train_index."""
  with np.load(npz_path) as arrays:
    if "train_index" not in arrays:
      raise UsageError(f"--data={npz_path} has no train_index (the CIFAR training index of each "
                       f"image), which --noise_type=human needs")
    train_index = arrays["train_index"]
  human, clean = human_noise.load_labels(labels_file, label_key, num_classes)
  return human_noise.align(human, clean, y_train, train_index,
                           f"--human_labels_file={labels_file}")


def subsample_per_class(labels, examples_per_class, seed):
  """Sorted indices of at most `examples_per_class` seeded-random examples of each class."""
  rng = np.random.default_rng([seed, 2])
  keep = [rng.permutation(np.flatnonzero(labels == c))[:examples_per_class]
          for c in np.unique(labels)]
  return np.sort(np.concatenate(keep))


def prepare_data(npz_path, noise_fraction, seed, val_fraction, data_root,
                 noise_type="symmetric", examples_per_class=0, human_labels_file=None,
                 human_label_key=None):
  """Writes train/val/test/oracle TFRecords; returns (dataset_name, {split dir}, stats).

  examples_per_class > 0 first keeps that many training images per class (seeded). With
  `human_labels_file` (noise_type human), the training labels are its `human_label_key` labels
  instead of synthetic noise at `noise_fraction`.
  """
  x_train, y_train, x_test, y_test = _load_npz(npz_path)
  full_y_train = y_train  # Human labels are aligned on the whole npz, before any subsample.
  if examples_per_class > 0:
    keep = subsample_per_class(y_train, examples_per_class, seed)
    x_train, y_train = x_train[keep], y_train[keep]
  dataset_name = "cifar10" if max(y_train.max(), y_test.max()) < 10 else "cifar100"
  num_classes = 10 if dataset_name == "cifar10" else 100
  if human_labels_file:
    human_label_key = human_noise.resolve_key(dataset_name, human_label_key)
    noisy = _human_labels(npz_path, dataset_name, num_classes, full_y_train, human_labels_file,
                          human_label_key)
    if examples_per_class > 0:
      noisy = noisy[keep]
    noise_name = f"human {human_label_key}"
  else:
    noise_name = f"{noise_type} {noise_fraction:g}"
    noisy = noise.corrupt_labels(y_train, num_classes, noise_type, noise_fraction, seed,
                                 dataset_name)
  order = np.random.default_rng(seed + 1).permutation(len(y_train))
  num_val = int(round(len(y_train) * val_fraction))
  val_index, train_index = np.sort(order[:num_val]), np.sort(order[num_val:])
  clean_index = train_index[noisy[train_index] == y_train[train_index]]
  dirs = {name: os.path.join(data_root, name) for name in ("train", "val", "test", "oracle")}
  if not os.path.exists(os.path.join(data_root, "stats.json")):

    def write(directory, split, index, labels):
      records.write_shards(directory, dataset_name, split, {
          "image": x_train[index], "label": labels[index], "clean_label": y_train[index],
          "id": np.arange(len(index), dtype=np.int64)}, num_shards=4)

    write(dirs["train"], "train", train_index, noisy)
    write(dirs["oracle"], "train", clean_index, y_train)
    write(dirs["val"], "test", val_index, noisy)  # Validation labels are as noisy as training.
    records.write_shards(dirs["test"], dataset_name, "test", {
        "image": x_test, "label": y_test}, num_shards=2)
    stats = {"dataset_name": dataset_name, "num_train": len(train_index), "num_val": num_val,
             "num_oracle": len(clean_index), "num_test": len(y_test),
             "realized_noise": float(np.mean(noisy[train_index] != y_train[train_index])),
             "noise": noise_name}
    with open(os.path.join(data_root, "stats.json"), "w", encoding="utf-8") as f:
      json.dump(stats, f, indent=2)
  with open(os.path.join(data_root, "stats.json"), encoding="utf-8") as f:
    stats = json.load(f)
  if stats.get("noise", noise_name) != noise_name:
    raise UsageError(f"{data_root} holds data with {stats['noise']} noise, not {noise_name}; "
                     f"choose another --output_dir")
  return dataset_name, dirs, stats


def run_method(method, dataset_name, dirs, run_dir):
  """Trains and evaluates one method; returns its result dict (also saved in run_dir)."""
  settings = method_settings(method, FLAGS.noise_fraction)
  if "loss_p_percentile" in settings and FLAGS.loss_p_percentile is not None:
    settings["loss_p_percentile"] = FLAGS.loss_p_percentile
  curriculum_name = settings.pop("curriculum")
  clean_only = settings.pop("clean_only", False)
  mentornet_name = settings.pop("mentornet", None)
  if mentornet_name == "mentornet_dd":
    mentornet_name = FLAGS.mentornet_dd_dir
  if mentornet_name:
    settings["trained_mentornet_dir"] = mentornet_net.shipped_mentornet_dir(mentornet_name)
  config = train_config.TrainConfig(
      train_log_dir=os.path.join(run_dir, "train"),
      data_dir=dirs["oracle"] if clean_only else dirs["train"], dataset_name=dataset_name,
      studentnet="resnet101", curriculum=curriculum_name, batch_size=FLAGS.batch_size,
      max_number_of_steps=FLAGS.max_number_of_steps, save_interval_secs=300,
      num_residual_units=FLAGS.num_residual_units,
      resnet_widths=studentnets.parse_widths(FLAGS.resnet_widths), random_seed=FLAGS.seed,
      learning_rate_boundaries=studentnets.scaled_resnet_boundaries(FLAGS.max_number_of_steps),
      verbose=FLAGS.verbose, curriculum_settings=settings, augmentation=FLAGS.augmentation,
      mixed_precision=FLAGS.mixed_precision)
  make_curriculum = curriculum_factory.make_curriculum_factory(curriculum_name, settings)
  eval_sets = {}
  for name in ("val", "test"):
    split = data_lib.describe_split(dirs[name], dataset_name, "test")
    eval_sets[name] = data_lib.make_dataset(split, dataset_name, 256, training=False)
  # Memorization is measured on the noisy training set whatever the method trained on.
  train_split = data_lib.describe_split(dirs["train"], dataset_name, "train")
  tracker = learning_curves.LearningCurves(
      FLAGS.eval_every, eval_sets,
      train_dataset=data_lib.make_dataset(train_split, dataset_name, 256, training=False))
  start = time.time()
  keras.backend.clear_session()
  outcome = runner.train_and_report(config, make_curriculum, extra_callbacks=[tracker])
  history = tracker.history
  best = max(history, key=lambda row: (row["val_accuracy"], row["step"]))
  trust = outcome.get("trust_report") or {}
  result = {
      "accuracy": history[-1]["test_accuracy"],
      "best_test_accuracy": max(row["test_accuracy"] for row in history),
      "test_accuracy_at_best_val": best["test_accuracy"],
      "best_val_step": best["step"],
      "fit_clean": history[-1].get("fit_clean"),
      "memorized": history[-1].get("memorized"),
      "peak_memorized": max((row["memorized"] for row in history
                             if row.get("memorized") is not None), default=None),
      "noise_auc": trust.get("noise_detection_roc_auc"),
      "corrupted_among_least_trusted": trust.get("corrupted_fraction_among_least_trusted"),
      "seconds": round(time.time() - start, 1),
      "steps": outcome["global_step"],
      "precision": precision_name(),
      "history": history,
      "settings": {"curriculum": curriculum_name, "clean_only": clean_only, **settings},
  }
  with open(os.path.join(run_dir, "result.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  return result


def gap_closure(results, method):
  base, oracle = results.get("baseline"), results.get("oracle")
  if not base or not oracle or oracle["accuracy"] == base["accuracy"]:
    return None
  return (results[method]["accuracy"] - base["accuracy"]) / (oracle["accuracy"] - base["accuracy"])


def precision_name():
  """The Keras policy every method trains with on this machine (--mixed_precision resolved)."""
  return precision.keras_policy_name(
      precision.resolve_mixed_precision(FLAGS.mixed_precision))


def format_markdown(results, stats, total_seconds):
  """The results table as markdown."""
  lines = [
      f"Reduced-scale reproduction: {stats['dataset_name']} subset, {stats['num_train']} noisy "
      f"training images ({noise_description()}, realized noise "
      f"{stats['realized_noise']:.3f}), {stats['num_val']} held-out noisy validation images, "
      f"{stats['num_test']} clean test images. StudentNet ResNet units="
      f"{FLAGS.num_residual_units} widths={FLAGS.resnet_widths}, {FLAGS.max_number_of_steps} "
      f"steps of batch {FLAGS.batch_size} per method, training augmentation "
      f"{FLAGS.augmentation}, precision {precision_name()}, MentorNet loss percentile "
      f"--loss_p={FLAGS.loss_p}"
      f"{'' if FLAGS.loss_p_percentile is None else f' (set to {FLAGS.loss_p_percentile:g})'}, "
      f"seed {FLAGS.seed}.",
      "",
      "| method | final test acc | best test acc | test acc at best val | gap closed | "
      "fit clean | memorized | noise AUC | seconds |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ]
  for method, result in results.items():
    closure = gap_closure(results, method)
    auc = result.get("noise_auc")
    fit = [result.get("fit_clean"), result.get("memorized")]
    fit = ["-" if value is None else f"{value:.3f}" for value in fit]
    lines.append(
        f"| {method} | {result['accuracy']:.4f} | {result['best_test_accuracy']:.4f} | "
        f"{result['test_accuracy_at_best_val']:.4f} | "
        f"{'-' if closure is None or method in ('baseline', 'oracle') else f'{closure:.0%}'} | "
        f"{fit[0]} | {fit[1]} | {'-' if auc is None else f'{auc:.3f}'} | "
        f"{result['seconds']:.0f} |")
  lines += ["", "gap closed = (method - baseline) / (oracle - baseline), on final test accuracy. "
            "noise AUC: ROC AUC of the method's per-example trust at telling corrupted labels "
            "(baseline and oracle: the training loss; MentorNets: the weight v; data "
            "parameters: the instance temperature). fit clean / memorized: share of the "
            "correctly / wrongly labelled training images predicted as their given label at "
            "the end (memorized = the wrong label was learned).", "",
            f"Sum of the per-method wall times (training, evaluation, trust report): "
            f"{sum(r['seconds'] for r in results.values()) / 60:.1f} min; this invocation: "
            f"{total_seconds / 60:.1f} min."]
  return "\n".join(lines) + "\n"


def noise_description():
  """The training labels' noise, for the table and the plot."""
  if FLAGS.noise_type == human_noise.NOISE_TYPE:
    return f"human labels {FLAGS.human_label_key} ({FLAGS.noise_fraction:.1%} wrong)"
  return f"{FLAGS.noise_fraction:.0%} {FLAGS.noise_type} label noise"


@exit_on_usage_error
def main(argv):
  del argv
  if not 0.0 <= FLAGS.noise_fraction <= 1.0:
    raise UsageError(f"--noise_fraction={FLAGS.noise_fraction:g} is outside [0, 1]")
  human = FLAGS.noise_type == human_noise.NOISE_TYPE
  if human and not FLAGS.human_labels_file:
    raise UsageError("--noise_type=human needs --human_labels_file")
  if human and FLAGS["noise_fraction"].present:
    raise UsageError("--noise_fraction does not apply to --noise_type=human (it is measured)")
  if not human and (FLAGS.human_labels_file or FLAGS.human_label_key):
    raise UsageError("--human_labels_file and --human_label_key need --noise_type=human")
  if FLAGS.examples_per_class < 0:
    raise UsageError(f"--examples_per_class={FLAGS.examples_per_class} is negative")
  if FLAGS.loss_p_percentile is not None and not 0.0 < FLAGS.loss_p_percentile <= 1.0:
    raise UsageError(f"--loss_p_percentile={FLAGS.loss_p_percentile:g} is outside (0, 1]")
  unknown = [m for m in FLAGS.methods if m not in METHODS]
  if unknown:
    raise UsageError(f"unknown --methods {','.join(unknown)}; choose from {','.join(METHODS)}")
  if "mentornet_dd" in FLAGS.methods:
    mentornet_net.shipped_mentornet_dir(FLAGS.mentornet_dd_dir)  # UsageError if absent.
  start = time.time()
  dataset_name, dirs, stats = prepare_data(FLAGS.data, FLAGS.noise_fraction, FLAGS.seed,
                                           FLAGS.val_fraction,
                                           os.path.join(FLAGS.output_dir, "data"),
                                           FLAGS.noise_type, FLAGS.examples_per_class,
                                           FLAGS.human_labels_file, FLAGS.human_label_key)
  if human:  # Each method gets the settings made for the synthetic level nearest this rate.
    FLAGS.noise_fraction = stats["realized_noise"]
    FLAGS.human_label_key = human_noise.resolve_key(dataset_name, FLAGS.human_label_key)
  results = {}
  for method in FLAGS.methods:
    run_dir = os.path.join(FLAGS.output_dir, "runs", method)
    saved = os.path.join(run_dir, "result.json")
    if os.path.exists(saved):
      with open(saved, encoding="utf-8") as f:
        results[method] = json.load(f)
      print(f"{method}: reusing {saved}", flush=True)
      continue
    results[method] = run_method(method, dataset_name, dirs, run_dir)
    r = results[method]
    print(f"{method}: final test accuracy {r['accuracy']:.4f}, best {r['best_test_accuracy']:.4f}"
          f", noise AUC {r['noise_auc']}, {r['seconds']:.0f} s", flush=True)
  total = time.time() - start
  summary = {m: {k: v for k, v in r.items() if k != "history"} for m, r in results.items()}
  for method in summary:
    summary[method]["gap_closure"] = gap_closure(results, method)
  with open(os.path.join(FLAGS.output_dir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  markdown = format_markdown(results, stats, total)
  with open(os.path.join(FLAGS.output_dir, "results.md"), "w", encoding="utf-8") as f:
    f.write(markdown)
  learning_curves.plot_curves(
      {method: result["history"] for method, result in results.items()},
      os.path.join(FLAGS.output_dir, "test_accuracy.png"),
      f"{noise_description()}, {stats['num_train']} training images")
  print(markdown)


if __name__ == "__main__":
  app.run(main)
