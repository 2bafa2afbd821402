"""commands/reproduce_small.py end to end on a tiny npz (a few steps per method)."""
import json
import subprocess
import sys

import numpy as np
import pytest

import numpy_reference
from conftest import REPO_ROOT, subprocess_env


def test_reproduce_small_writes_results_table_and_plot(tmp_path):
  rng = np.random.default_rng(0)
  npz = tmp_path / "tiny.npz"
  np.savez(npz, x_train=rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8),
           y_train=rng.integers(0, 10, 96), x_val=rng.integers(0, 256, (24, 32, 32, 3),
                                                               dtype=np.uint8),
           y_val=rng.integers(0, 10, 24))
  out = tmp_path / "out"
  methods = "baseline,mentornet_pd,data_parameters,oracle"
  proc = subprocess.run(
      [sys.executable, str(REPO_ROOT / "commands" / "reproduce_small.py"), f"--data={npz}",
       "--noise_fraction=0.4", f"--output_dir={out}", f"--methods={methods}",
       "--max_number_of_steps=4", "--eval_every=2", "--batch_size=16",
       "--resnet_widths=8,8,16,16"],
      env=subprocess_env(), capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((out / "results.json").read_text())
  assert list(results) == methods.split(",")
  for method, result in results.items():
    history = json.loads((out / "runs" / method / "result.json").read_text())["history"]
    assert [row["step"] for row in history] == [0, 2, 4] and result["steps"] == 4, method
    # Accuracy over the 24 test images: the last evaluation's, a whole number of images.
    assert result["accuracy"] == history[-1]["test_accuracy"], method
    assert result["best_test_accuracy"] == max(row["test_accuracy"] for row in history)
    assert abs(result["accuracy"] * 24 - round(result["accuracy"] * 24)) < 1e-9, method
    # Each evaluation also measures memorization on the noisy training set.
    assert all(0.0 <= row["memorized"] <= 1.0 and 0.0 <= row["fit_clean"] <= 1.0
               for row in history), method
    assert result["memorized"] == history[-1]["memorized"], method
  for method in ("baseline", "mentornet_pd", "data_parameters"):
    noise_rate, auc = numpy_reference.trust_report_check(
        out / "runs" / method / "train" / "trust_report.csv")
    assert noise_rate > 0 and results[method]["noise_auc"] == pytest.approx(auc, abs=1e-3)
  assert results["data_parameters"]["settings"]["learn_inst_parameters"] is True
  # MentorNet PD's settings come from mentornet.method_settings: p = 0.7, as the original ran.
  pd = results["mentornet_pd"]["settings"]
  assert (pd["loss_p_percentile"], pd["example_dropout_rates"]) == (0.7, "0.5,17,0.05,83")
  assert pd["trained_mentornet_dir"].endswith("mentornet_pd1_g_1/mentornet_pd")
  table = (out / "results.md").read_text()
  assert all(f"| {m} |" in table for m in methods.split(","))
  assert (out / "test_accuracy.png").stat().st_size > 1000
  # A rerun reuses every finished method instead of training it again.
  again = subprocess.run(proc.args, env=subprocess_env(), capture_output=True, text=True,
                         timeout=300)
  assert again.returncode == 0 and again.stdout.count("reusing") == 4


def test_given_label_fit_splits_clean_and_corrupted_examples():
  from mentornet import learning_curves  # pylint: disable=import-outside-toplevel
  columns = {"label": np.array([1, 2, 3, 4, 5, 6]),
             "clean_label": np.array([1, 2, 0, 0, -1, 0]),
             "correct": np.array([True, False, True, False, True, True])}
  # Clean: ids 0, 1 (one fitted). Corrupted: ids 2, 3, 5 (2 and 5 predicted as the wrong label).
  # Id 4 has no known clean label and counts in neither group.
  fit_clean, memorized = learning_curves.given_label_fit(columns)
  assert fit_clean == 0.5
  assert memorized == 2 / 3
  none_corrupted = {k: v[:2] for k, v in columns.items()}
  assert learning_curves.given_label_fit(none_corrupted) == (0.5, None)
