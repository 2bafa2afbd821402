"""Reduced-scale reproduction of the README tables on a CPU, with rivals and a trust report.

On an npz with x_train, y_train and x_test, y_test (or x_val, y_val as the test split):
1. keeps `examples_per_class` training images a class, corrupts their labels (`noise_type`,
   symmetric is the original's), holds out a validation split cut from the (noisy) training
   set, and writes TFRecords with clean labels and example ids (`data.npz_splits`);
2. trains the same small StudentNet with the same step budget for every method: baseline,
   self_paced, focal_loss, mentornet_pd, mentornet_dd (the shipped MentorNets, with the
   original commands' settings for this noise level and p from `loss_p`; DD from
   `mentornet_dd_dir`), data_parameters, and a clean-label oracle (only the examples whose
   label was not corrupted);
3. evaluates test (and validation) accuracy every `eval_every` steps, keeps each method's
   per-example trust report, and writes DIR/results.json, DIR/results.md and
   DIR/test_accuracy.png.
A method whose DIR/runs/<method>/result.json exists (of the same precision and settings) is not
trained again; one of another precision or other settings is refused.

Real human noise instead of step 1's synthetic noise: noise_type="human" with
`human_labels_file` (CIFAR-10N / CIFAR-100N); each method's settings are those for the measured
noise rate.

The defaults are a regime where the baseline memorizes the wrong labels within 100 epochs
(docs/regime_study.md): 222 images a class, ResNet-8 widths 16,16,32,64, 1,600 steps of 128,
training images flipped but not cropped (a declared departure of the reduced regime), every
MentorNet at p = 1 - noise (loss_p="clean_share").
"""
import dataclasses
import json
import os
import time
from typing import Optional
from typing import Tuple

from mentornet.analysis import learning_curves
from mentornet.config import defaults
from mentornet.config import method_settings as method_table
from mentornet.config import train_config
from mentornet.curricula import data_parameters
from mentornet.curricula import factory as curriculum_factory
from mentornet.data import human_noise
from mentornet.data import noise
from mentornet.data import npz_splits
from mentornet.errors import UsageError
from mentornet.errors import check_choice
from mentornet.errors import check_positive
from mentornet.experiments import runner
from mentornet.learning import pipelines
from mentornet.models import mentornet_net
from mentornet.models import studentnets
from mentornet.training import precision

ORIGINAL_METHODS_ROW = "mentornet.config.method_settings"
# The original commands' methods take their settings from the one method table (loss_p picks
# p); the rivals are defined here. Data parameters: instance parameters only, the paper's
# noisy-label learning rate 0.2 (chosen over class + instance parameters by noisy-validation
# accuracy, docs/regime_study.md).
METHODS = {
    **dict.fromkeys(method_table.ORIGINAL_METHODS, ORIGINAL_METHODS_ROW),
    "data_parameters": {"curriculum": "data_parameters",
                        **data_parameters.NOISY_LABEL_SETTINGS},
    "oracle": {"curriculum": "baseline", "clean_only": True},
    # MentorMix: the official CIFAR-10 settings at the nearest noise fraction.
    "mentormix": "mentornet.config.method_settings.mentormix_settings",
}
DEFAULT_METHODS = ("baseline", "self_paced", "focal_loss", "mentornet_pd", "mentornet_dd",
                   "data_parameters", "oracle")


@dataclasses.dataclass
class SmallConfig:
  """Settings of one reduced-scale reproduction; each default here is the regime's."""
  data: Optional[str] = None  # npz path
  noise_fraction: float = 0.4
  noise_type: str = "symmetric"  # symmetric | asymmetric | human
  human_labels_file: Optional[str] = None
  human_label_key: Optional[str] = None
  examples_per_class: int = 222  # 0: all
  output_dir: str = "runs/reproduce_small"
  methods: Tuple[str, ...] = DEFAULT_METHODS
  max_number_of_steps: int = 1600  # 100 epochs of the default 1,998 training images at 128
  batch_size: int = 128
  eval_every: int = 50
  num_residual_units: int = 1
  resnet_widths: Tuple[int, ...] = (16, 16, 32, 64)
  augmentation: str = "flip"
  val_fraction: float = 0.1
  seed: int = 0
  loss_p_percentile: Optional[float] = None  # overrides loss_p's p for every MentorNet
  mixup_alpha: Optional[float] = None  # overrides the mentormix method's alpha
  mentornet_dd_dir: str = "small_nl_0.4_percentile_60/mentornet_dd"
  verbose: int = 0
  mixed_precision: str = defaults.DEFAULT_MIXED_PRECISION
  # clean_share: p = 1 - noise rate, chosen for this regime by noisy-validation accuracy (it
  # memorizes much sooner than the original, and p = 0.7 keeps wrong labels it then learns).
  loss_p: str = "clean_share"
  # True when noise_fraction was given explicitly (it must not be, for human noise).
  noise_fraction_given: bool = False

  @property
  def human(self):
    return self.noise_type == human_noise.NOISE_TYPE

  def dd_percentile(self, noise_fraction=0.4):
    """100 x the DD method's loss percentile at `noise_fraction` (its DD's data percentile)."""
    return round(100 * method_table.loss_p_percentile("mentornet_dd", noise_fraction,
                                                      self.loss_p))

  def dump_steps(self):
    """The StudentNet dump's checkpoint steps of this regime (`learning.pipelines.dump_steps`)."""
    return pipelines.dump_steps(self.max_number_of_steps)


def validate(config):
  """Raises `UsageError` (one line) for a bad setting; nothing is written."""
  if not 0.0 <= config.noise_fraction <= 1.0:
    raise UsageError(f"--noise_fraction={config.noise_fraction:g} is outside [0, 1]")
  check_choice("noise_type", config.noise_type, noise.NOISE_TYPES + (human_noise.NOISE_TYPE,))
  if config.human and not config.human_labels_file:
    raise UsageError("--noise_type=human needs --human_labels_file")
  if config.human and config.noise_fraction_given:
    raise UsageError("--noise_fraction does not apply to --noise_type=human (it is measured)")
  if not config.human and (config.human_labels_file or config.human_label_key):
    raise UsageError("--human_labels_file and --human_label_key need --noise_type=human")
  if config.examples_per_class < 0:
    raise UsageError(f"--examples_per_class={config.examples_per_class} is negative")
  if config.loss_p_percentile is not None and not 0.0 < config.loss_p_percentile <= 1.0:
    raise UsageError(f"--loss_p_percentile={config.loss_p_percentile:g} is outside (0, 1]")
  if config.mixup_alpha is not None and not config.mixup_alpha > 0.0:
    raise UsageError(f"--mixup_alpha={config.mixup_alpha:g} must be positive")
  check_positive(config, ("max_number_of_steps", "batch_size", "eval_every"))
  check_choice("augmentation", config.augmentation, defaults.AUGMENTATIONS)
  check_choice("mixed_precision", config.mixed_precision, defaults.MIXED_PRECISION_POLICIES)
  check_choice("loss_p", config.loss_p, method_table.LOSS_P_MODES)
  unknown = [m for m in config.methods if m not in METHODS]
  if unknown:
    raise UsageError(f"unknown --methods {','.join(unknown)}; choose from {','.join(METHODS)}")
  if "mentornet_dd" in config.methods:
    mentornet_net.shipped_mentornet_dir(config.mentornet_dd_dir)  # UsageError if absent.


def method_settings(method, noise_fraction, loss_p):
  """The method's curriculum settings at this noise level."""
  if METHODS[method] == ORIGINAL_METHODS_ROW:
    return method_table.curriculum_settings(method, noise_fraction, loss_p=loss_p)
  if method == "mentormix":
    return method_table.mentormix_settings(noise_fraction)
  return dict(METHODS[method])


def precision_name(config):
  """The Keras policy every method trains with on this machine (mixed_precision resolved)."""
  return train_config.keras_policy_name(precision.resolve_mixed_precision(config.mixed_precision))


def method_run_settings(config, method):
  """(curriculum name, clean_only, curriculum settings) of `method` under `config`; the
  mentornet_dd method trains with `config.mentornet_dd_dir`, loss_p_percentile overrides p and
  mixup_alpha mentormix's alpha."""
  settings = method_settings(method, config.noise_fraction, config.loss_p)
  if "loss_p_percentile" in settings and config.loss_p_percentile is not None:
    settings["loss_p_percentile"] = config.loss_p_percentile
  if "mixup_alpha" in settings and config.mixup_alpha is not None:
    settings["mixup_alpha"] = config.mixup_alpha
  curriculum_name = settings.pop("curriculum")
  clean_only = settings.pop("clean_only", False)
  mentornet_name = settings.pop("mentornet", None)
  if method == "mentornet_dd":
    mentornet_name = config.mentornet_dd_dir
  if mentornet_name:
    settings["trained_mentornet_dir"] = mentornet_net.shipped_mentornet_dir(mentornet_name)
  return curriculum_name, clean_only, settings


def recorded_settings(config, method):
  """The "settings" a result of `method` under `config` records."""
  curriculum_name, clean_only, settings = method_run_settings(config, method)
  return {"curriculum": curriculum_name, "clean_only": clean_only, **settings}


def run_method(config, method, dataset_name, dirs, run_dir):
  """Trains and evaluates one method; returns its result dict."""
  curriculum_name, clean_only, settings = method_run_settings(config, method)
  train = train_config.TrainConfig(
      train_log_dir=os.path.join(run_dir, "train"),
      data_dir=dirs["oracle"] if clean_only else dirs["train"], dataset_name=dataset_name,
      studentnet="resnet101", curriculum=curriculum_name, batch_size=config.batch_size,
      max_number_of_steps=config.max_number_of_steps, save_interval_secs=300,
      num_residual_units=config.num_residual_units,
      resnet_widths=tuple(config.resnet_widths), random_seed=config.seed,
      learning_rate_boundaries=studentnets.scaled_resnet_boundaries(config.max_number_of_steps),
      verbose=config.verbose, curriculum_settings=settings, augmentation=config.augmentation,
      mixed_precision=config.mixed_precision)
  make_curriculum = curriculum_factory.make_curriculum_factory(curriculum_name, settings)
  # Memorization is measured on the noisy training set whatever the method trained on.
  run = runner.train_with_curves(
      train, make_curriculum, eval_every=config.eval_every,
      eval_dirs={"val": dirs["val"], "test": dirs["test"]}, train_eval_dir=dirs["train"],
      eval_batch_size=256)
  history, trust = run["history"], run["trust_report"] or {}
  best = max(history, key=lambda row: (row["val_accuracy"], row["step"]))
  return {
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
      "seconds": run["seconds"],
      "steps": run["global_step"],
      "precision": run["precision"],
      "history": history,
      "settings": recorded_settings(config, method),
  }


def gap_closure(results, method):
  """(method - baseline) / (oracle - baseline) on final test accuracy; None without both."""
  base, oracle = results.get("baseline"), results.get("oracle")
  if not base or not oracle or oracle["accuracy"] == base["accuracy"]:
    return None
  return (results[method]["accuracy"] - base["accuracy"]) / (oracle["accuracy"] - base["accuracy"])


def noise_description(config):
  """The training labels' noise, for the table and the plot."""
  if config.human:
    return f"human labels {config.human_label_key} ({config.noise_fraction:.1%} wrong)"
  return f"{config.noise_fraction:.0%} {config.noise_type} label noise"


def format_markdown(config, results, stats, total_seconds):
  """The results table as markdown."""
  widths = ",".join(map(str, config.resnet_widths))
  shown_p = ("" if config.loss_p_percentile is None
             else f" (set to {config.loss_p_percentile:g})")
  lines = [
      f"Reduced-scale reproduction: {stats['dataset_name']} subset, {stats['num_train']} noisy "
      f"training images ({noise_description(config)}, realized noise "
      f"{stats['realized_noise']:.3f}), {stats['num_val']} held-out noisy validation images, "
      f"{stats['num_test']} clean test images. StudentNet ResNet units="
      f"{config.num_residual_units} widths={widths}, {config.max_number_of_steps} "
      f"steps of batch {config.batch_size} per method, training augmentation "
      f"{config.augmentation}, precision {precision_name(config)}, MentorNet loss percentile "
      f"--loss_p={config.loss_p}{shown_p}, seed {config.seed}.",
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


def prepare_data(config, noise_fraction=None, seed=None, data_root=None):
  """Writes (or reuses) the npz splits of `config`; returns (dataset_name, {split dir}, stats)."""
  return npz_splits.prepare_npz_splits(
      config.data, config.noise_fraction if noise_fraction is None else noise_fraction,
      config.seed if seed is None else seed, config.val_fraction,
      data_root or os.path.join(config.output_dir, "data"), config.noise_type,
      config.examples_per_class, config.human_labels_file, config.human_label_key)


def run(config):
  """Runs every method of `config` (reusing finished ones); writes and returns the results.

  Returns:
    {method: result dict} (each with its learning-curve `history`).
  """
  validate(config)
  start = time.time()
  dataset_name, dirs, stats = prepare_data(config)
  if config.human:  # Each method gets the settings made for the synthetic level nearest this rate.
    config = dataclasses.replace(
        config, noise_fraction=stats["realized_noise"],
        human_label_key=human_noise.resolve_key(dataset_name, config.human_label_key))
  wanted_precision = precision_name(config)
  results = {}
  for method in config.methods:
    run_dir = os.path.join(config.output_dir, "runs", method)
    saved = runner.load_result(run_dir, wanted_precision, recorded_settings(config, method))
    if saved is not None:
      results[method] = saved
      print(f"{method}: reusing {os.path.join(run_dir, runner.RESULT_FILE)}", flush=True)
      continue
    results[method] = run_method(config, method, dataset_name, dirs, run_dir)
    runner.save_result(run_dir, results[method])
    r = results[method]
    print(f"{method}: final test accuracy {r['accuracy']:.4f}, best {r['best_test_accuracy']:.4f}"
          f", noise AUC {r['noise_auc']}, {r['seconds']:.0f} s", flush=True)
  total = time.time() - start
  summary = {m: {k: v for k, v in r.items() if k != "history"} for m, r in results.items()}
  for method in summary:
    summary[method]["gap_closure"] = gap_closure(results, method)
  with open(os.path.join(config.output_dir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  markdown = format_markdown(config, results, stats, total)
  with open(os.path.join(config.output_dir, "results.md"), "w", encoding="utf-8") as f:
    f.write(markdown)
  learning_curves.plot_curves(
      {method: result["history"] for method, result in results.items()},
      os.path.join(config.output_dir, "test_accuracy.png"),
      f"{noise_description(config)}, {stats['num_train']} training images")
  print(markdown)
  return results
