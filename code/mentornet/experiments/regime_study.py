"""Regime study: where does a small StudentNet memorize noisy labels on a CPU?

Runs reproduce_small once per regime of REGIMES and seed (in DIR/<regime>/seed<k>; finished
methods are reused) and writes DIR/regime_study.{json,md}: per run the training examples,
StudentNet, epochs, schedule, batch, noise, the baseline's peak and final clean test accuracy
with its final fit of the clean and the corrupted (memorized) training labels, every other
method's final clean test accuracy, the final noisy-validation accuracy of each method (what
settings are chosen on) and the minutes. A regime qualifies when the baseline fits most clean
training labels and then a growing share of the corrupted ones (docs/regime_study.md).
"""
import dataclasses
import json
import os

from mentornet.errors import UsageError
from mentornet.experiments import reproduce_small

# name: SmallConfig fields. All: batch 128, ~100 epochs, the original ResNet learning-rate
# drops (x0.1 at 50%, 64%, 77% of training) scaled to the steps. The first study's regimes keep
# the original's crop-and-flip augmentation and p = 0.7 with the DD learned for them; the
# reduced-augmentation ones use reproduce_small's defaults (p = 1 - noise, its DD).
_COMMON = {"num_residual_units": 1, "resnet_widths": (16, 16, 32, 64), "noise_type": "symmetric",
           "noise_fraction": 0.4, "methods": ("baseline", "mentornet_pd", "oracle")}
_SMALL = dict(_COMMON, examples_per_class=111, max_number_of_steps=800, augmentation="crop_flip",
              loss_p="effective", mentornet_dd_dir="small_nl_0.4_percentile_70/mentornet_dd")
_DEFAULT = dict(_COMMON, examples_per_class=222, max_number_of_steps=1600, augmentation="flip")
REGIMES = {
    "c111_r8_sym0.4": dict(_SMALL),
    "c111_r8_asym0.4": dict(_SMALL, noise_type="asymmetric"),
    "c111_r8_sym0.8": dict(_SMALL, noise_fraction=0.8),
    "c222_r8_sym0.4": dict(_SMALL, examples_per_class=222, max_number_of_steps=1600),
    "c111_r8wide_sym0.4": dict(_SMALL, resnet_widths=(16, 16, 32, 128)),
    "c111_r8_noaug_sym0.4": dict(_DEFAULT, examples_per_class=111, max_number_of_steps=800,
                                 augmentation="none"),
    "c222_r8_noaug_sym0.4": dict(_DEFAULT, augmentation="none"),
    "c222_r8_flip_sym0.4": dict(_DEFAULT),  # reproduce_small's defaults
    "c222_r8_flip_asym0.4": dict(_DEFAULT, noise_type="asymmetric"),
    "c222_r8_flip_sym0.8": dict(_DEFAULT, noise_fraction=0.8),
}


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
                    f"widths={','.join(map(str, settings['resnet_widths']))}",
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



def run(data, output_dir, regimes=tuple(REGIMES), seeds=(0,), methods=None,
        mixed_precision=None):
  """Runs (or reuses) every regime x seed; writes and returns the table rows.

  Args:
    data: the npz of reproduce_small.
    output_dir: where DIR/<regime>/seed<k> and the table go.
    regimes: names in REGIMES; seeds: ints; methods: overrides every regime's methods.
    mixed_precision: overrides reproduce_small's default policy (None: its default).
  """
  unknown = [r for r in regimes if r not in REGIMES]
  if unknown:
    raise UsageError(f"unknown --regimes {','.join(unknown)}; choose from {','.join(REGIMES)}")
  if not os.path.exists(data or ""):
    raise UsageError(f"--data={data} does not exist")
  rows = []
  for regime in regimes:
    for seed in seeds:
      run_root = os.path.join(output_dir, regime, f"seed{seed}")
      settings = dict(REGIMES[regime])
      if methods:
        settings["methods"] = tuple(methods)
      if mixed_precision:
        settings["mixed_precision"] = mixed_precision
      config = reproduce_small.SmallConfig(data=data, seed=seed, output_dir=run_root,
                                           **settings)
      print(f"== {regime} seed {seed}: {dataclasses.asdict(config)}", flush=True)
      reproduce_small.run(config)
      rows.append(collect(regime, seed, run_root))
      with open(os.path.join(output_dir, "regime_study.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
      with open(os.path.join(output_dir, "regime_study.md"), "w", encoding="utf-8") as f:
        f.write(format_markdown(rows))
  print(format_markdown(rows))
  return rows
