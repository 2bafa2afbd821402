"""Training dynamics accumulated in the train step (NumPy reference, 1 vs 2 replicas, checkpoint
round trip), the label-issue rankings and noise-rate estimate, the trust report's flagged set,
and benchmarks/label_issues.py on a tiny npz."""
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from conftest import LogRecorder
from conftest import subprocess_env
from mentornet.analysis import label_issues
from mentornet.curricula import base as curriculum_lib
from mentornet.training import checkpoints
from mentornet.training import dynamics as dynamics_lib
from mentornet.training import trainer as trainer_lib
import replica_harness

NUM_CLASSES = 5
NUM_EXAMPLES = 12


class _IdWeights(curriculum_lib.NoCurriculum):
  """v = 0.25 * (1 + id mod 3): weights that differ between examples."""

  def example_weights(self, losses, labels, features, step_info):
    ids = tf.cast(features["id"], tf.float32)
    return 0.25 * (1.0 + tf.math.floormod(ids, 3.0)), {}


def _student(seed=0):
  rng = np.random.default_rng(seed)
  student = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(NUM_CLASSES)])
  student.layers[-1].kernel.assign(rng.normal(size=(12, NUM_CLASSES)).astype(np.float32))
  student.layers[-1].bias.assign(0.1 * rng.normal(size=NUM_CLASSES).astype(np.float32))
  return student


def _model(max_steps=4, seed=0):
  model = trainer_lib.StudentTrainer(_student(seed), _IdWeights(), max_steps=max_steps,
                                     num_examples=NUM_EXAMPLES)
  model.compile(optimizer=keras.optimizers.SGD(0.5))
  return model


def _batches():
  """Three batches of 6: a repeated id, an id past the split and a missing id (-1)."""
  rng = np.random.default_rng(3)
  ids = np.array([[0, 1, 2, 3, 3, 11], [4, 5, 6, 7, -1, 12], [0, 8, 9, 10, 2, 5]], np.int64)
  images = rng.normal(size=(3, 6, 2, 2, 3)).astype(np.float32)
  labels = rng.integers(0, NUM_CLASSES, size=(3, 6)).astype(np.int32)
  return ids, images, labels


def _reference_update(sums, ids, logits, labels, step, early_steps):
  """NumPy restatement of one `TrainingDynamics.update` (float64)."""
  logits = logits.astype(np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]
  for i, example in enumerate(ids):
    if not 0 <= example < NUM_EXAMPLES:
      continue
    others = np.delete(logits[i], labels[i])
    margin = logits[i, labels[i]] - others.max()
    v = 0.25 * (1 + example % 3)
    early = float(step < early_steps)
    sums[example] += [margin, losses[i], v, 1.0, early * margin, early * losses[i], early]
  return sums


def test_dynamics_accumulate_numpy_reference_sums():
  model = _model(max_steps=4)  # early_steps = 2: the third step counts only in the totals
  ids, images, labels = _batches()
  expected = np.zeros([NUM_EXAMPLES, len(dynamics_lib.STATISTICS)])
  for step in range(3):
    logits = model.student(images[step]).numpy()  # this step's forward pass (no dropout)
    expected = _reference_update(expected, ids[step], logits, labels[step], step, 2)
    features = {"image": images[step], "id": ids[step], "clean_label": labels[step]}
    model.fit(tf.data.Dataset.from_tensors((features, labels[step])), epochs=1, verbose=0,
              shuffle=False)
  got = model.dynamics.sums.numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  assert got[3, 3] == 2 and got[0, 3] == 2 and got[0, 6] == 1  # repeats and the late step
  means = model.dynamics.means()
  assert np.isfinite(means["mean_margin"][11]) and np.isnan(means["early_mean_loss"][8])


def test_dynamics_leave_the_step_results_bit_identical():
  from mentornet.models import studentnets
  config = studentnets.StudentNetConfig(1, (4, 4, 8, 8))
  rng = np.random.default_rng(1)
  images = rng.normal(size=(3, 8, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 10, size=(3, 8)).astype(np.int32)
  ids = np.arange(24, dtype=np.int64).reshape(3, 8)
  keras.utils.set_random_seed(2)
  initial = [w.numpy() for w in studentnets.build_resnet(10, config).weights]
  results = []
  for num_examples in (None, 24):
    student = studentnets.build_resnet(10, config)
    for variable, value in zip(student.weights, initial):
      variable.assign(value)
    model = trainer_lib.StudentTrainer(student, _IdWeights(), max_steps=3,
                                       num_examples=num_examples)
    model.compile(optimizer=studentnets.TF1Momentum(0.1, momentum=0.9))
    recorder = LogRecorder()
    model.fit(tf.data.Dataset.from_tensor_slices(
        ({"image": images, "id": ids, "clean_label": labels}, labels)), epochs=1, verbose=0,
        callbacks=[recorder])
    results.append((recorder.logs, [w.numpy() for w in student.weights]))
  assert results[0][0] == results[1][0]
  for a, b in zip(results[0][1], results[1][1]):
    np.testing.assert_array_equal(a, b)


def test_margins_hand_case():
  logits = tf.constant([[2.0, 1.0, -1.0], [0.5, 3.0, 1.0]])
  np.testing.assert_allclose(dynamics_lib.margins(logits, tf.constant([0, 0])), [1.0, -2.5])


def test_dynamics_survive_a_checkpoint_round_trip(tmp_path):
  model = _model()
  ids, images, labels = _batches()
  features = {"image": images[0], "id": ids[0], "clean_label": labels[0]}
  model.fit(tf.data.Dataset.from_tensors((features, labels[0])), epochs=1, verbose=0)
  path = checkpoints.make_checkpoint(model).save(str(tmp_path / "ckpt"))
  restored = _model(seed=1)
  checkpoints.make_checkpoint(restored).restore(path).assert_existing_objects_matched()
  np.testing.assert_array_equal(restored.dynamics.sums.numpy(), model.dynamics.sums.numpy())
  assert model.dynamics.sums.numpy()[:, 3].sum() == 6  # ids 0, 1, 2, 3, 3, 11
  # A checkpoint of the layout before the dynamics restores with zero sums.
  old = tf.train.Checkpoint(student=model.student, curriculum=model.curriculum,
                            optimizer=model.optimizer).save(str(tmp_path / "old"))
  fresh = _model(seed=2)
  checkpoints.matching_checkpoint(checkpoints.make_checkpoint(fresh), old).restore(
      old).assert_existing_objects_matched()
  assert not fresh.dynamics.sums.numpy().any()


REPLICA_SCRIPT = textwrap.dedent("""
    import sys
    import replica_harness as harness
    harness.split_cpu_in_two()
    import json
    from mentornet.curricula import base as curriculum
    import tensorflow as tf

    class IdWeights(curriculum.NoCurriculum):
      def example_weights(self, losses, labels, features, step_info):
        ids = tf.cast(features["id"], tf.float32)
        return 0.25 * (1.0 + tf.math.floormod(ids, 3.0)), {}

    result = harness.one_and_two_replicas(
        IdWeights, record_end=lambda model: {"sums": model.dynamics.sums.numpy().tolist()},
        max_steps=4, num_examples=40)
    with open(sys.argv[1], "w") as f:
      json.dump(result, f)
""")


def test_dynamics_agree_between_one_and_two_replicas(tmp_path):
  result = replica_harness.run_script(REPLICA_SCRIPT, tmp_path / "out.json")
  one, two = np.asarray(result["one"]["sums"]), np.asarray(result["two"]["sums"])
  assert one[:, 3].sum() > 30 and np.ptp(one[:, 0]) > 0  # most of 48 seen, margins differ
  np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- rankings


def test_noise_rate_estimate_on_synthetic_scores():
  rng = np.random.default_rng(0)
  for rate in (0.1, 0.3, 0.45):
    noisy = int(rate * 4000)
    scores = np.r_[rng.normal(0.0, 1.0, 4000 - noisy), rng.normal(5.0, 1.5, noisy)]
    assert label_issues.estimate_noise_rate(rng.permutation(scores)) == pytest.approx(
        rate, abs=0.02)
  assert label_issues.estimate_noise_rate(np.ones(50)) == 0.0
  assert label_issues.estimate_noise_rate([1.0]) == 0.0


def _margin_columns(early_margin):
  """Trust report columns of n examples whose scores all follow the early mean margin [n]."""
  n = len(early_margin)
  return {"example_id": np.arange(n), "given_label": np.zeros(n, np.int32),
          "clean_label": np.zeros(n, np.int32), "trust": -np.ones(n), "rank": np.arange(1, n + 1),
          "loss": np.ones(n), "mean_margin": early_margin + 1.0, "mean_loss": -early_margin,
          "mean_v": np.ones(n), "seen": np.full(n, 8), "early_mean_margin": early_margin,
          "early_mean_loss": -early_margin, "suspect_rank": np.arange(1, n + 1),
          "flagged": np.zeros(n, np.int64)}


def _clean_and_noisy_margins(rng):
  """(clean [1000], noisy [1000]) early mean margins: a clean set's are all positive but skewed
  (two Gaussians fit them); in the noisy one the last 300 labels are wrong (negative margins)
  and a few right ones are hard (negative too)."""
  clean = np.abs(np.r_[rng.normal(4.0, 0.5, 800), rng.normal(1.0, 0.4, 200)]) + 0.01
  noisy = np.r_[rng.normal(2.5, 1.0, 700), rng.normal(-1.5, 1.0, 300)]
  return clean, noisy


def test_count_rules_and_the_cap_on_a_clean_set():
  rng = np.random.default_rng(1)
  clean, noisy = _clean_and_noisy_margins(rng)
  columns = _margin_columns(clean)
  # Two Gaussians fit the clean set's scores too: the mixture alone would flag many of them.
  assert label_issues.count_rate("early_aum", columns, "mixture") > 0.1
  assert label_issues.count_rate("early_aum", columns, "disagreement") == 0.0
  assert label_issues.COUNT_RULE == "capped_mixture"
  _, flagged, rate = label_issues.flag_ranking("early_aum", columns)
  assert rate == 0.0 and not flagged.any()
  columns = _margin_columns(noisy)
  mixture = label_issues.estimate_noise_rate(-noisy)
  disagreement = np.mean(noisy < 0)
  assert label_issues.disagreement_rate("early_aum", columns) == pytest.approx(disagreement)
  assert label_issues.count_rate("early_aum", columns) == pytest.approx(min(mixture,
                                                                           disagreement))
  scores, flagged, rate = label_issues.flag_ranking("early_aum", columns)
  np.testing.assert_array_equal(scores, -noisy)
  assert flagged.sum() == round(rate * 1000) and flagged[700:].mean() > 0.8
  assert np.all(scores[flagged].min() >= scores[~flagged].max())
  # Each window's own margin; unseen examples (NaN) left out; no window at the end of training.
  columns["mean_margin"] = np.r_[-np.ones(100), np.ones(899), np.nan]
  assert label_issues.disagreement_rate("aum", columns) == pytest.approx(100 / 999)
  assert label_issues.disagreement_rate("final_trust", columns) is None
  assert label_issues.count_rate("final_loss", columns, "disagreement") == pytest.approx(
      label_issues.estimate_noise_rate(columns["loss"]))
  with pytest.raises(ValueError, match="unknown count rule"):
    label_issues.count_rate("early_aum", columns, "half")


def test_flagged_quality_and_rankings():
  quality = label_issues.flagged_quality([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
  assert quality == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
  assert label_issues.flagged_quality([0, 0], [1, 0])["precision"] is None
  columns = {"loss": np.array([0.1, 2.0, 1.0]), "trust": np.array([1.0, 0.0, 1.0]),
             "trust_score": np.array([2.0, 0.0, 1.0]), "mean_margin": np.array([3.0, -1.0, 0.5]),
             "mean_loss": np.array([0.2, 1.5, 1.0]), "mean_v": np.array([1.0, 0.2, 1.0]),
             "early_mean_margin": np.array([1.0, -2.0, 0.0]),
             "early_mean_loss": np.array([0.5, 2.5, 1.5])}
  for name in label_issues.RANKINGS:
    scores = label_issues.ranking_scores(name, columns)
    assert np.argmax(scores) == 1 and np.argmin(scores) == 0, name
  with pytest.raises(ValueError):
    label_issues.ranking_scores("nope", columns)


def test_trust_report_flags_with_the_winner_or_falls_back():
  from mentornet.analysis import trust_report
  n = 6
  columns = {"example_id": np.arange(n), "loss": np.linspace(0.1, 3.0, n),
             "trust": -np.linspace(0.1, 3.0, n), "seen": np.full(n, 4),
             "mean_margin": np.linspace(2.0, -2.0, n), "mean_loss": np.linspace(0.1, 3.0, n),
             "mean_v": np.ones(n), "early_mean_margin": np.linspace(1.0, -1.0, n),
             "early_mean_loss": np.linspace(0.5, 2.0, n)}
  assert label_issues.WINNING_RANKING == "early_aum"
  assert trust_report.label_issue_ranking(columns) == "early_aum"
  summary = trust_report.add_suspects(columns)
  assert list(columns["suspect_rank"]) == [6, 5, 4, 3, 2, 1]
  assert summary["num_flagged"] == columns["flagged"].sum()
  columns["early_mean_margin"][2] = np.nan  # not seen in the first half
  assert trust_report.label_issue_ranking(columns) == "aum"
  columns["mean_margin"][2] = np.nan
  assert trust_report.label_issue_ranking(columns) == "final_trust"


# ---------------------------------------------------------------------------- the benchmark


# Six tiny trainings (baseline, five folds) of 12 or 10 steps: about a minute on an idle 2-core CPU.
@pytest.mark.timeout(300)
def test_benchmark_on_a_tiny_npz(tmp_path):
  pytest.importorskip("cleanlab")
  pytest.importorskip("sklearn")
  rng = np.random.default_rng(0)
  npz = tmp_path / "tiny.npz"
  np.savez(npz, x_train=rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8),
           y_train=np.arange(100) % 10,
           x_test=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
           y_test=np.arange(20) % 10)
  out = tmp_path / "bench.json"
  command = [sys.executable, str(REPO_ROOT / "benchmarks" / "label_issues.py"), f"--data={npz}",
             "--noise_fraction=0.4", "--methods=baseline", "--max_number_of_steps=12",
             "--batch_size=16", "--resnet_widths=4,4,4,4", f"--output_dir={tmp_path / 'runs'}"]
  run = lambda *extra: subprocess.run(command + list(extra), cwd=tmp_path, env=subprocess_env(),
                                      capture_output=True, text=True, timeout=290)
  # Part of the work alone (as a second process would share it), then the table reuses it.
  bad = run("--trainings=cleanlab_fold9")
  assert bad.returncode == 2 and "unknown --trainings cleanlab_fold9" in bad.stderr
  part = run("--trainings=cleanlab_fold1")
  assert part.returncode == 0, part.stderr[-3000:]
  assert sorted(p.name for p in (tmp_path / "runs" / "runs").iterdir()) == ["cleanlab_fold1"]
  assert not (tmp_path / "runs" / "label_issues.md").exists()
  proc = run(f"--json={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "cleanlab_fold1: reusing its result" in proc.stdout
  table = json.loads(out.read_text())
  rows = {row["name"]: row for row in table["rankings"]}
  noise = table["setup"]["realized_noise"]
  assert table["setup"]["flag_all_f1"] == pytest.approx(2 * noise / (1 + noise))
  assert {"baseline/final_trust", "baseline/aum", "cleanlab_in_sample",
          "cleanlab_cv5"} <= rows.keys()
  assert rows["cleanlab_cv5"]["trainings"] == 5 and rows["baseline/aum"]["trainings"] == 1
  for row in rows.values():
    assert {"name", "trainings", "flagged", "precision", "recall", "f1", "auc",
            "seconds"} <= row.keys()
    assert 0.0 <= row["f1"] <= 1.0 and 0.0 <= row["auc"] <= 1.0
  assert "| cleanlab_cv5 | 5 |" in (tmp_path / "runs" / "label_issues.md").read_text()
  csv_header = (tmp_path / "runs" / "runs" / "baseline" / "train" /
                "trust_report.csv").read_text().splitlines()[0]
  assert csv_header.endswith("suspect_rank,flagged")
  summary = json.loads((tmp_path / "runs" / "runs" / "baseline" / "train" /
                        "trust_report_summary.json").read_text())
  assert summary["label_issue_ranking"] == label_issues.WINNING_RANKING
  assert {"estimated_noise_rate", "num_flagged", "flagged_precision", "flagged_recall",
          "flagged_f1", "noise_detection_roc_auc"} <= summary.keys()


def test_benchmark_without_cleanlab_says_how_to_install_it(tmp_path):
  fake = tmp_path / "fake" / "cleanlab"
  fake.mkdir(parents=True)
  (fake / "__init__.py").write_text("raise ImportError('no cleanlab here')\n")
  env = subprocess_env()
  env["PYTHONPATH"] = f"{tmp_path / 'fake'}:{env['PYTHONPATH']}"
  proc = subprocess.run(
      [sys.executable, str(REPO_ROOT / "benchmarks" / "label_issues.py"),
       f"--data={tmp_path / 'absent.npz'}", f"--output_dir={tmp_path / 'runs'}"],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert 'pip install ".[bench]"' in proc.stderr and not (tmp_path / "runs").exists()


def test_choice_of_the_winner_from_choice_runs(tmp_path):
  def table(f1s):
    rows = [{"name": name, "trainings": 1, "f1": f1, "auc": 0.5} for name, f1 in f1s.items()]
    return {"rankings": rows + [{"name": "cleanlab_cv5", "trainings": 5, "f1": 1.0, "auc": 1.0}]}

  paths = []
  for index, f1s in enumerate([{"baseline/aum": 0.6, "baseline/final_loss": 0.7},
                               {"baseline/aum": 0.8, "baseline/final_loss": 0.6}]):
    paths.append(tmp_path / f"choice{index}.json")
    paths[-1].write_text(json.dumps(table(f1s)))
  proc = subprocess.run(
      [sys.executable, str(REPO_ROOT / "benchmarks" / "label_issues.py"),
       f"--choose_from={paths[0]},{paths[1]}"], env=subprocess_env(), capture_output=True,
      text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip().splitlines()[-1] == "winner: baseline/aum"  # mean 0.7 > 0.65


def test_choice_of_the_count_rule_leaves_out_rules_that_flag_a_clean_set(tmp_path):
  from mentornet.analysis import trust_report
  rng = np.random.default_rng(2)
  clean, noisy = _clean_and_noisy_margins(rng)
  paths = [tmp_path / "clean.csv", tmp_path / "noisy.csv"]
  trust_report.write_csv(paths[0], _margin_columns(clean))
  noisy_columns = _margin_columns(noisy)
  noisy_columns["given_label"][700:] = 1  # the wrong labels
  trust_report.write_csv(paths[1], noisy_columns)
  command = [sys.executable, str(REPO_ROOT / "benchmarks" / "label_issues.py")]
  proc = subprocess.run(command + [f"--choose_count_from={paths[0]},{paths[1]}"],
                        env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.strip().splitlines()
  summary = {line.split()[0]: line for line in lines if "mean F1" in line}
  assert set(summary) == set(label_issues.COUNT_RULES)
  mean_f1 = {rule: float(line.split()[3]) for rule, line in summary.items()}
  clean_share = {rule: float(line.split()[-1]) for rule, line in summary.items()}
  assert clean_share["mixture"] > 0.05 and clean_share["capped_mixture"] == 0.0
  allowed = [rule for rule in mean_f1 if clean_share[rule] <= 0.05]
  assert lines[-1] == "count rule: " + max(allowed, key=lambda rule: mean_f1[rule])
  # Choice runs must know their clean labels.
  unknown = _margin_columns(noisy)
  unknown["clean_label"][:] = -1
  trust_report.write_csv(tmp_path / "unknown.csv", unknown)
  bad = subprocess.run(command + [f"--choose_count_from={tmp_path / 'unknown.csv'}"],
                       env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and "has no clean labels" in bad.stderr
