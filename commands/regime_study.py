"""Regime study: where does a small StudentNet memorize noisy labels on a CPU?

  python commands/regime_study.py --data=../shared/data/cifar10_subset.npz \
    --output_dir=runs/regime_study [--regimes=a,b] [--seeds=0,1,2]

Runs commands/reproduce_small.py once per regime of REGIMES and seed (in
DIR/<regime>/seed<k>; finished methods are reused) and writes DIR/regime_study.{json,md}: per
run the training examples, StudentNet, epochs, schedule, batch, noise, the baseline's peak and
final clean test accuracy with its final fit of the clean and the corrupted (memorized)
training labels, every other method's final clean test accuracy, the final noisy-validation
accuracy of each method (what settings are chosen on) and the minutes.
A regime qualifies when the baseline fits most clean training labels and then a growing share
of the corrupted ones (docs/regime_study.md).
"""
import json
import os
import subprocess
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "code"))
# pylint: disable=wrong-import-position
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error

REPRODUCE_SMALL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reproduce_small.py")

# name: reproduce_small flags. All: batch 128, ~100 epochs, the original ResNet learning-rate
# drops (x0.1 at 50%, 64%, 77% of training) scaled to the steps. The first study's regimes keep
# the original's crop-and-flip augmentation and p = 0.7 with the DD learned for them; the
# reduced-augmentation ones use reproduce_small's defaults (p = 1 - noise, its DD).
_COMMON = {"num_residual_units": 1, "resnet_widths": "16,16,32,64", "noise_type": "symmetric",
           "noise_fraction": 0.4, "methods": "baseline,mentornet_pd,oracle"}
_SMALL = dict(_COMMON, examples_per_class=111, max_number_of_steps=800, augmentation="crop_flip",
              loss_p="effective", mentornet_dd_dir="small_nl_0.4_percentile_70/mentornet_dd")
_DEFAULT = dict(_COMMON, examples_per_class=222, max_number_of_steps=1600, augmentation="flip")
REGIMES = {
    "c111_r8_sym0.4": dict(_SMALL),
    "c111_r8_asym0.4": dict(_SMALL, noise_type="asymmetric"),
    "c111_r8_sym0.8": dict(_SMALL, noise_fraction=0.8),
    "c222_r8_sym0.4": dict(_SMALL, examples_per_class=222, max_number_of_steps=1600),
    "c111_r8wide_sym0.4": dict(_SMALL, resnet_widths="16,16,32,128"),
    "c111_r8_noaug_sym0.4": dict(_DEFAULT, examples_per_class=111, max_number_of_steps=800,
                                 augmentation="none"),
    "c222_r8_noaug_sym0.4": dict(_DEFAULT, augmentation="none"),
    "c222_r8_flip_sym0.4": dict(_DEFAULT),  # reproduce_small's defaults
    "c222_r8_flip_asym0.4": dict(_DEFAULT, noise_type="asymmetric"),
    "c222_r8_flip_sym0.8": dict(_DEFAULT, noise_fraction=0.8),
}

flags.DEFINE_string("data", None, "npz of reproduce_small.py (x_train, y_train, x_val, y_val).")
flags.DEFINE_string("output_dir", "runs/regime_study", "Where the runs and the table go.")
flags.DEFINE_list("regimes", list(REGIMES), "Regimes to run, in order.")
flags.DEFINE_list("seeds", ["0"], "Seeds of every regime.")
flags.DEFINE_list("methods", None, "Methods of every regime (default: the regime's).")
FLAGS = flags.FLAGS


def _final(history, key):
  return history[-1].get(key) if history else None


def collect(regime, seed, run_root):
  """One table row from a finished reproduce_small output directory."""
  settings = REGIMES[regime]
  with open(os.path.join(run_root, "data", "stats.json"), encoding="utf-8") as f:
    stats = json.load(f)
  with open(os.path.join(run_root, "results.json"), encoding="utf-8") as f:
    results = json.load(f)
  finals, vals, histories = {}, {}, {}
  for method in results:
    with open(os.path.join(run_root, "runs", method, "result.json"), encoding="utf-8") as f:
      histories[method] = json.load(f)["history"]
    finals[method] = results[method]["accuracy"]
    vals[method] = _final(histories[method], "val_accuracy")
  base = results.get("baseline", {})
  steps, batch = settings["max_number_of_steps"], 128
  return {
      "regime": regime, "seed": seed, "num_train": stats["num_train"],
      "realized_noise": stats["realized_noise"],
      "studentnet": f"ResNet units={settings['num_residual_units']} "
                    f"widths={settings['resnet_widths']}",
      "steps": steps, "batch": batch, "epochs": round(steps * batch / stats["num_train"], 1),
      "noise": f"{settings['noise_type']} {settings['noise_fraction']}",
      "augmentation": settings["augmentation"], "loss_p": settings.get("loss_p", "clean_share"),
      "baseline_peak": base.get("best_test_accuracy"), "baseline_final": base.get("accuracy"),
      "baseline_fit_clean": base.get("fit_clean"), "baseline_memorized": base.get("memorized"),
      "baseline_peak_memorized": base.get("peak_memorized"),
      "final_test": finals, "final_val": vals,
      "gap_closure": {m: r.get("gap_closure") for m, r in results.items()
                      if m not in ("baseline", "oracle")},
      "minutes": round(sum(r["seconds"] for r in results.values()) / 60, 1),
  }


def _fmt(value, spec=".3f"):
  return "-" if value is None else format(value, spec)


def format_markdown(rows):
  """The study table: one line per regime and seed."""
  lines = ["| regime | seed | train images | StudentNet | epochs (steps x batch) | "
           "augmentation, MentorNet p | noise | "
           "baseline peak / final test | baseline fit clean / memorized (peak) | "
           "final test of the others | final noisy val | min |",
           "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- | --- | --- | ---: |"]
  for row in rows:
    others = ", ".join(f"{m} {_fmt(a)}" for m, a in row["final_test"].items() if m != "baseline")
    vals = ", ".join(f"{m} {_fmt(a)}" for m, a in row["final_val"].items())
    lines.append(
        f"| {row['regime']} | {row['seed']} | {row['num_train']} | {row['studentnet']} | "
        f"{row['epochs']} ({row['steps']} x {row['batch']}) | "
        f"{row.get('augmentation', 'crop_flip')}, {row.get('loss_p', 'effective')} | "
        f"{row['noise']} | "
        f"{_fmt(row['baseline_peak'])} / {_fmt(row['baseline_final'])} | "
        f"{_fmt(row['baseline_fit_clean'], '.2f')} / {_fmt(row['baseline_memorized'], '.2f')} "
        f"({_fmt(row['baseline_peak_memorized'], '.2f')}) | {others} | {vals} | "
        f"{row['minutes']} |")
  return "\n".join(lines) + "\n"


@exit_on_usage_error
def main(argv):
  del argv
  unknown = [r for r in FLAGS.regimes if r not in REGIMES]
  if unknown:
    raise UsageError(f"unknown --regimes {','.join(unknown)}; choose from {','.join(REGIMES)}")
  try:
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError:
    raise UsageError(f"--seeds={','.join(FLAGS.seeds)} are not all integers") from None
  if not os.path.exists(FLAGS.data or ""):
    raise UsageError(f"--data={FLAGS.data} does not exist")
  rows = []
  for regime in FLAGS.regimes:
    for seed in seeds:
      run_root = os.path.join(FLAGS.output_dir, regime, f"seed{seed}")
      settings = dict(REGIMES[regime])
      if FLAGS.methods:
        settings["methods"] = ",".join(FLAGS.methods)
      args = [sys.executable, REPRODUCE_SMALL, f"--data={FLAGS.data}", f"--seed={seed}",
              f"--output_dir={run_root}"] + [f"--{k}={v}" for k, v in settings.items()]
      print("+ " + " ".join(args[1:]), flush=True)
      subprocess.run(args, check=True)
      rows.append(collect(regime, seed, run_root))
      with open(os.path.join(FLAGS.output_dir, "regime_study.json"), "w",
                encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
      with open(os.path.join(FLAGS.output_dir, "regime_study.md"), "w", encoding="utf-8") as f:
        f.write(format_markdown(rows))
  print(format_markdown(rows))


if __name__ == "__main__":
  app.run(main)
