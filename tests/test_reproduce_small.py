"""reproduce_small and the regime study end to end on a tiny npz (a few steps per method)."""
import dataclasses
import json
import subprocess
import sys

from absl import flags
import numpy as np
import pytest

from conftest import REPO_ROOT
from conftest import subprocess_env
from mentornet.cli import reproduce_small as cli_reproduce_small
from mentornet.data import npz_splits
from mentornet.data import records
from mentornet.errors import UsageError
from mentornet.experiments import regime_study
from mentornet.experiments import reproduce_small
import numpy_reference


def test_reproduce_small_writes_results_table_and_plot(tmp_path, capsys):
  rng = np.random.default_rng(0)
  npz = tmp_path / "tiny.npz"
  np.savez(npz, x_train=rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8),
           y_train=rng.integers(0, 10, 96), x_val=rng.integers(0, 256, (24, 32, 32, 3),
                                                               dtype=np.uint8),
           y_val=rng.integers(0, 10, 24))
  out = tmp_path / "out"
  methods = "baseline,mentornet_pd,data_parameters,mentormix,oracle"
  config = reproduce_small.SmallConfig(
      data=str(npz), noise_fraction=0.4, output_dir=str(out), methods=tuple(methods.split(",")),
      max_number_of_steps=4, eval_every=2, batch_size=16, resnet_widths=(8, 8, 16, 16))
  reproduce_small.run(config)
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
  for method in ("baseline", "mentornet_pd", "data_parameters", "mentormix"):
    noise_rate, auc = numpy_reference.trust_report_check(
        out / "runs" / method / "train" / "trust_report.csv")
    assert noise_rate > 0 and results[method]["noise_auc"] == pytest.approx(auc, abs=1e-3)
  assert results["data_parameters"]["settings"]["learn_inst_parameters"] is True
  # MentorNet PD's settings come from mentornet.config.method_settings, with p = 1 - noise (the
  # default --loss_p=clean_share).
  pd = results["mentornet_pd"]["settings"]
  assert (pd["loss_p_percentile"], pd["example_dropout_rates"]) == (0.6, "0.5,17,0.05,83")
  assert pd["trained_mentornet_dir"].endswith("mentornet_pd1_g_1/mentornet_pd")
  table = (out / "results.md").read_text()
  assert all(f"| {m} |" in table for m in methods.split(","))
  assert (out / "test_accuracy.png").stat().st_size > 1000
  assert {r["precision"] for r in results.values()} == {"float32"}
  assert "precision float32" in table
  # A rerun reuses every finished method instead of training it again; a run of another
  # precision or other settings in the same directory is refused, never mixed into the table.
  capsys.readouterr()
  reproduce_small.run(config)
  assert capsys.readouterr().out.count("reusing") == 5
  with pytest.raises(UsageError, match="trained in float32, not mixed_bfloat16"):
    reproduce_small.run(dataclasses.replace(config, mixed_precision="mixed_bfloat16"))
  with pytest.raises(UsageError, match=r"mentormix/result.json was trained with "
                     r"mixup_alpha=8.0, this command would use 2.0: use another --output_dir"):
    reproduce_small.run(dataclasses.replace(config, mixup_alpha=2.0))


def test_mentornet_loss_percentile_of_each_loss_p_mode():
  """--loss_p: clean_share = 1 - noise (at least 0.1), effective = 0.7, written = the table's."""
  found = []
  for loss_p, noise_fraction in (("clean_share", 0.4), ("clean_share", 0.2),
                                 ("clean_share", 0.95), ("clean_share", 0.363),
                                 ("effective", 0.4), ("written", 0.8)):
    settings = reproduce_small.method_settings("mentornet_pd", noise_fraction, loss_p)
    assert "loss_p_percentile" not in reproduce_small.method_settings("baseline", noise_fraction,
                                                                      loss_p)
    found.append(settings["loss_p_percentile"])
  assert found == [0.6, 0.8, 0.1, 0.64, 0.7, 0.5]


def test_mentornet_dd_trains_with_the_regime_dd_and_overrides():
  """The mentornet_dd method uses --mentornet_dd_dir (not the table's original DD path), and
  --loss_p_percentile overrides every MentorNet's p."""
  config = reproduce_small.SmallConfig(mentornet_dd_dir="small_nl_0.4_percentile_70/mentornet_dd")
  name, clean_only, settings = reproduce_small.method_run_settings(config, "mentornet_dd")
  assert (name, clean_only) == ("mentornet", False)
  assert settings["trained_mentornet_dir"].endswith("small_nl_0.4_percentile_70/mentornet_dd")
  assert settings["loss_p_percentile"] == 0.6 and settings["burn_in_epoch"] == 18
  _, _, pd = reproduce_small.method_run_settings(
      dataclasses.replace(config, loss_p_percentile=0.5), "mentornet_pd")
  assert pd["loss_p_percentile"] == 0.5
  assert pd["trained_mentornet_dir"].endswith("mentornet_pd1_g_1/mentornet_pd")
  assert reproduce_small.method_run_settings(config, "oracle") == ("baseline", True, {})
  # MentorMix: the official CIFAR-10 settings of the nearest noise fraction (0.4 here).
  name, _, mix = reproduce_small.method_run_settings(config, "mentormix")
  assert name == "mentormix" and mix["trained_mentornet_dir"].endswith("mentornet_pd")
  assert (mix["mixup_alpha"], mix["loss_p_percentile"], mix["second_reweight"],
          mix["burn_in_epoch"], mix["batch_norm_statistics"]) == (8.0, 0.6, False, 10, "unmixed")
  _, _, mix8 = reproduce_small.method_run_settings(
      dataclasses.replace(config, noise_fraction=0.75), "mentormix")
  assert (mix8["mixup_alpha"], mix8["loss_p_percentile"], mix8["second_reweight"]) == (
      4.0, 0.2, True)
  _, _, mix2 = reproduce_small.method_run_settings(
      dataclasses.replace(config, mixup_alpha=2.0), "mentormix")
  assert (mix2["mixup_alpha"], mix2["loss_p_percentile"]) == (2.0, 0.6)
  assert "mixup_alpha" not in reproduce_small.method_run_settings(
      dataclasses.replace(config, mixup_alpha=2.0), "mentornet_pd")[2]


def test_given_label_fit_splits_clean_and_corrupted_examples():
  from mentornet.analysis import learning_curves
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


def test_prepare_data_keeps_examples_per_class_then_corrupts_and_splits(tmp_path):
  rng = np.random.default_rng(1)
  npz = tmp_path / "tiny.npz"
  y_train = np.arange(300) % 10  # 30 images per class
  np.savez(npz, x_train=rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8), y_train=y_train,
           x_val=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
           y_val=rng.integers(0, 10, 20))
  keep = npz_splits.subsample_per_class(np.repeat(np.arange(10), [30] * 9 + [4]), 12, seed=3)
  np.testing.assert_array_equal(keep, npz_splits.subsample_per_class(
      np.repeat(np.arange(10), [30] * 9 + [4]), 12, 3))
  config = reproduce_small.SmallConfig(data=str(npz), seed=3, noise_type="asymmetric",
                                       examples_per_class=12)
  name, dirs, stats = reproduce_small.prepare_data(config, data_root=str(tmp_path / "data"))
  train = records.read_all(records.list_record_files(dirs["train"], name, "train"), name)
  out = {"keep": keep.tolist(), "stats": stats, "label": train["label"].tolist(),
         "clean_label": train["clean_label"].tolist()}
  labels = np.repeat(np.arange(10), [30] * 9 + [4])
  # 12 of each class, all 4 of the class that has fewer; distinct indices of the right class.
  assert np.bincount(labels[out["keep"]]).tolist() == [12] * 9 + [4]
  assert len(set(out["keep"])) == len(out["keep"])
  stats = out["stats"]
  assert stats["num_train"] + stats["num_val"] == 120 and stats["num_val"] == 12
  noisy, clean = np.array(out["label"]), np.array(out["clean_label"])
  assert np.bincount(clean, minlength=10).sum() == 108 and np.bincount(clean).max() <= 12
  # Asymmetric CIFAR-10 noise: only the flip map's classes change, each to its pair.
  flips = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
  changed = noisy != clean
  assert changed.any()
  assert all(flips.get(c) == n for c, n in zip(clean[changed], noisy[changed]))
  assert stats["realized_noise"] == changed.mean()


@pytest.mark.parametrize("flag, message", [
    ("--examples_per_class=-1", "--examples_per_class=-1 is negative"),
    ("--loss_p_percentile=0", "--loss_p_percentile=0 is outside (0, 1]"),
    ("--mixup_alpha=-1", "--mixup_alpha=-1 must be positive"),
    ("--mentornet_dd_dir=nowhere", "shipped MentorNet 'nowhere' not found"),
    ("--max_number_of_steps=0", "--max_number_of_steps=0 must be positive"),
    ("--methods=baseline,nope", "unknown --methods nope"),
    ("--human_labels_file=x.npy", "need --noise_type=human")])
def test_reproduce_small_refuses_bad_regime_flags(tmp_path, flag, message):
  flag_values = flags.FlagValues()
  cli_reproduce_small.define_flags(flag_values)
  out = tmp_path / "out"
  flag_values(["reproduce_small", f"--data={tmp_path}/missing.npz", f"--output_dir={out}", flag])
  with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
    reproduce_small.run(cli_reproduce_small.config_from_flags(flag_values))
  assert not out.exists()


def test_reproduce_small_script_exits_2_on_a_bad_flag_before_writing(tmp_path):
  for flag in ("--examples_per_class=-1", "--noise_type=uniform"):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "commands" / "reproduce_small.py"),
         f"--data={tmp_path}/missing.npz", f"--output_dir={out}", flag],
        env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and flag.split("=")[0].lstrip("-") in proc.stderr, flag
    assert not out.exists(), flag


def test_regime_study_collects_finished_runs_into_its_table(tmp_path, capsys):
  """regime_study.py on runs that already finished: no training, only the table."""
  rng = np.random.default_rng(2)
  npz = tmp_path / "tiny.npz"
  np.savez(npz, x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
           y_train=np.arange(40) % 10, x_val=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
           y_val=np.arange(8) % 10)
  run_root = tmp_path / "study" / "c111_r8_sym0.4" / "seed1"
  (run_root / "data").mkdir(parents=True)
  (run_root / "data" / "stats.json").write_text(json.dumps(
      {"dataset_name": "cifar10", "num_train": 999, "num_val": 111, "num_oracle": 650,
       "num_test": 517, "realized_noise": 0.35}))
  finals = {"baseline": 0.30, "mentornet_pd": 0.36, "oracle": 0.40}
  # The settings the study's config of this regime records (others would be refused).
  config = reproduce_small.SmallConfig(seed=1, **regime_study.REGIMES["c111_r8_sym0.4"])
  for method, accuracy in finals.items():
    history = [{"step": 0, "val_accuracy": 0.1, "test_accuracy": 0.1, "fit_clean": 0.1,
                "memorized": 0.1},
               {"step": 800, "val_accuracy": accuracy - 0.05, "test_accuracy": accuracy,
                "fit_clean": 0.7, "memorized": 0.4 if method == "baseline" else 0.2}]
    (run_root / "runs" / method).mkdir(parents=True)
    (run_root / "runs" / method / "result.json").write_text(json.dumps(
        {"accuracy": accuracy, "best_test_accuracy": accuracy + 0.01,
         "test_accuracy_at_best_val": accuracy, "fit_clean": 0.7,
         "memorized": history[-1]["memorized"], "peak_memorized": 0.45, "noise_auc": None,
         "seconds": 120.0, "steps": 800, "history": history,
         "settings": reproduce_small.recorded_settings(config, method),
         "precision": "float32"}))
  regime_study.run(str(npz), str(tmp_path / "study"), ["c111_r8_sym0.4"], [1])
  assert "reusing" in capsys.readouterr().out
  row, = json.loads((tmp_path / "study" / "regime_study.json").read_text())
  assert row["regime"] == "c111_r8_sym0.4" and row["seed"] == 1 and row["num_train"] == 999
  assert row["epochs"] == round(800 * 128 / 999, 1) and row["noise"] == "symmetric 0.4"
  assert row["baseline_peak"] == 0.31 and row["baseline_final"] == 0.30
  assert row["baseline_memorized"] == 0.4 and row["baseline_peak_memorized"] == 0.45
  assert row["final_test"] == finals
  assert abs(row["final_val"]["mentornet_pd"] - 0.31) < 1e-9
  assert abs(row["gap_closure"]["mentornet_pd"] - 0.6) < 1e-9
  assert row["minutes"] == 6.0
  assert "| c111_r8_sym0.4 | 1 | 999 |" in (tmp_path / "study" / "regime_study.md").read_text()
  with pytest.raises(UsageError, match="unknown --regimes huge"):
    regime_study.run(str(npz), str(tmp_path / "bad"), ["huge"], [0])
  assert not (tmp_path / "bad").exists()
  bad = subprocess.run(
      [sys.executable, str(REPO_ROOT / "commands" / "regime_study.py"), f"--data={npz}",
       f"--output_dir={tmp_path / 'bad'}", "--regimes=huge", "--mixed_precision=none"],
      env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and "error: unknown --regimes huge" in bad.stderr
  assert not (tmp_path / "bad").exists()
