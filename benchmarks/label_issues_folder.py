"""The acceptance run of `mentornet-label-issues` on a folder of noisy CIFAR-10 images.

Builds DIR/train/<class>/<i>.png from ../shared/data/cifar10_subset.npz: `--examples_per_class`
images a class (222, seeded as reproduce_small picks them), their labels corrupted by
symmetric noise (`--noise_fraction` 0.4, seed `--seed`: each label is redrawn uniformly with
probability 0.4, so ~36% end up wrong) and each image filed under its noisy class. Then runs
the command with its defaults and with `--curriculum=none` (or the curricula of `--runs`) and
prints, for each: precision and recall of the flagged images against the truly wrong labels,
the saved model's accuracy on the subset's clean x_val (517 images), and minutes. The images
stay in DIR (never commit them).

  python benchmarks/label_issues_folder.py --work_dir=/tmp/label_issues_bench
"""
import argparse
import csv
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "code"), str(ROOT)]

from mentornet.data import noise  # noqa: E402
from mentornet.data import npz_splits  # noqa: E402

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")


def build_folder(npz_path, directory, examples_per_class, noise_fraction, seed):
  """Writes the noisy folder; returns {path: (given label, clean label)}."""
  from PIL import Image
  with np.load(npz_path) as arrays:
    x, y = arrays["x_train"], arrays["y_train"].reshape(-1).astype(np.int64)
  keep = npz_splits.subsample_per_class(y, examples_per_class, seed)
  clean = y[keep]
  noisy = noise.corrupt_labels(clean, 10, "symmetric", noise_fraction, seed)
  truth = {}
  for image, given, true in zip(x[keep], noisy, clean):
    folder = os.path.join(directory, f"{given}_{CIFAR10_NAMES[given]}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{len(truth):05d}.png")
    Image.fromarray(image).save(path)
    truth[path] = (int(given), int(true))
  return truth


def clean_accuracy(model_path, npz_path):
  import keras
  model = keras.saving.load_model(model_path)
  with np.load(npz_path) as arrays:
    x_val, y_val = arrays["x_val"], arrays["y_val"].reshape(-1)
  predicted = np.argmax(model.predict(x_val, batch_size=256, verbose=0), axis=1)
  return float(np.mean(predicted == y_val))


def flagged_quality(csv_path, truth):
  with open(csv_path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  flagged = {row["path"] for row in rows if row["is_issue"] == "1"}
  wrong = {path for path, (given, true) in truth.items() if given != true}
  hits = len(flagged & wrong)
  return {"flagged": len(flagged), "wrong": len(wrong),
          "precision": hits / len(flagged) if flagged else None,
          "recall": hits / len(wrong) if wrong else None}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  shared = os.environ.get("MENTORNET_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
  parser.add_argument("--data", default=os.path.join(shared, "cifar10_subset.npz"))
  parser.add_argument("--work_dir", default="/tmp/mentornet_label_issues_bench")
  parser.add_argument("--examples_per_class", type=int, default=222)
  parser.add_argument("--noise_fraction", type=float, default=0.4)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--runs", default="default,none",
                      help="default: the command's defaults; any other name N: "
                      "--curriculum=N (none, mentormix, ...)")
  parser.add_argument("--extra_flags", default="", help="more flags for every run")
  args = parser.parse_args()

  train_dir = os.path.join(args.work_dir, "train")
  if os.path.exists(train_dir):
    sys.exit(f"{train_dir} exists; use a new --work_dir")
  truth = build_folder(args.data, train_dir, args.examples_per_class, args.noise_fraction,
                       args.seed)
  realized = np.mean([given != true for given, true in truth.values()])
  print(f"{len(truth)} images in {train_dir}, {realized:.3f} of them under a wrong class",
        flush=True)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(ROOT / "code"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
  results = {"images": len(truth), "realized_noise": float(realized)}
  for run in args.runs.split(","):
    out = os.path.join(args.work_dir, run)
    command = [sys.executable, "-m", "mentornet.cli.label_issues", f"--train_dir={train_dir}",
               f"--output_dir={out}"] + ([] if run == "default" else [f"--curriculum={run}"])
    command += args.extra_flags.split()
    print("$ " + " ".join(command), flush=True)
    start = time.time()
    subprocess.run(command, check=True, env=env)
    minutes = (time.time() - start) / 60
    quality = flagged_quality(os.path.join(out, "label_issues.csv"), truth)
    results[run] = {**quality, "clean_val_accuracy": clean_accuracy(
        os.path.join(out, "model.keras"), args.data), "minutes": round(minutes, 2)}
    print(json.dumps({run: results[run]}), flush=True)
  with open(os.path.join(args.work_dir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2)
  print("| run | flagged | precision | recall | clean x_val accuracy | minutes |")
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  for run in args.runs.split(","):
    r = results[run]
    shown = ["-" if r[k] is None else f"{r[k]:.3f}" for k in ("precision", "recall")]
    print(f"| {run} | {r['flagged']} | {shown[0]} | {shown[1]} | "
          f"{r['clean_val_accuracy']:.4f} | {r['minutes']:.1f} |")


if __name__ == "__main__":
  main()
