"""Trust report: AUC and ranks against hand-computed cases, the CSV/summary of each curriculum,
the MentorNet trust, and the CLI against the report written at the end of training."""
import itertools
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_tiny_noisy_cifar
from conftest import subprocess_env
from mentornet.analysis import trust_report as tr
from mentornet.config import train_config
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import data_parameters as dp
from mentornet.curricula import factory as curriculum_factory
from mentornet.errors import UsageError
from mentornet.experiments import runner
from mentornet.models import mentornet_net
from mentornet.training import trainer as trainer_lib
import numpy_reference as ref

NUM_CLASSES = 4


def test_average_ranks_share_ties():
  np.testing.assert_array_equal(tr.average_ranks([3, 1, 3, 2]), [3.5, 1, 3.5, 2])
  np.testing.assert_array_equal(tr.average_ranks([5, 5, 5]), [2, 2, 2])
  np.testing.assert_array_equal(tr.average_ranks([]), [])


@pytest.mark.parametrize("scores,positives,expected", [
    ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),  # 3 of 4 pairs ordered
    ([1, 2, 3, 4], [0, 0, 1, 1], 1.0),
    ([1, 2, 3, 4], [1, 1, 0, 0], 0.0),
    ([1, 1], [0, 1], 0.5),  # a tie counts one half
    ([1, 2, 2, 3], [0, 1, 0, 1], 0.875),  # pairs: 1 + 0.5 + 1 + 1 out of 4
    ([0, 0, 0, 1, 1], [1, 0, 0, 1, 0], (0.5 * 2 + 1.0 * 2 + 0.5) / 6),
])
def test_roc_auc_hand_cases(scores, positives, expected):
  assert tr.roc_auc(scores, np.array(positives, bool)) == pytest.approx(expected)


def test_roc_auc_equals_pairwise_count_with_ties():
  rng = np.random.default_rng(0)
  scores = rng.integers(0, 5, 40).astype(float)
  positives = rng.random(40) < 0.3
  pairs = [1.0 if p > n else 0.5 if p == n else 0.0
           for p, n in itertools.product(scores[positives], scores[~positives])]
  assert tr.roc_auc(scores, positives) == pytest.approx(np.mean(pairs))
  assert tr.roc_auc([1, 2], [True, True]) is None and tr.roc_auc([1, 2], [False, False]) is None


def test_ranks_and_least_trusted_fractions():
  trust = np.array([0.5, -1.0, 0.5, 2.0, -3.0])
  ids = np.array([10, 11, 7, 13, 14])
  np.testing.assert_array_equal(tr.trust_ranks(trust, ids), [4, 2, 3, 5, 1])  # tie: id 7 first
  ranks = np.arange(1, 21)
  corrupted = np.zeros(20, bool)
  corrupted[[0, 2, 3, 10]] = True  # ranks 1, 3, 4, 11
  got = tr.corrupted_among_least_trusted(ranks, corrupted)
  assert got == {"0.05": 1.0, "0.1": 0.5, "0.2": 0.75, "0.4": 0.375}


def test_ties_in_trust_are_ordered_by_loss():
  # v saturated at 1 for four examples and at 0 for two: the loss orders each tied group.
  trust = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
  losses = np.array([0.2, 0.9, 3.0, 0.5, 2.0, 0.5])
  ids = np.arange(6)
  # Least trusted first: v=0 with loss 3.0 (id 2), loss 2.0 (id 4); then v=1 by falling loss:
  # 0.9 (id 1), 0.5 (ids 3 and 5: id order), 0.2 (id 0).
  np.testing.assert_array_equal(tr.trust_ranks(trust, ids, losses), [6, 3, 1, 4, 2, 5])
  np.testing.assert_array_equal(tr.trust_ranks(trust, ids), [3, 4, 1, 5, 2, 6])  # ids only
  scores = tr.tie_broken_trust(trust, losses)
  np.testing.assert_array_equal(scores, [5, 3, 1, 4, 2, 4])  # ids 3 and 5 still tie
  # Saturated v differing only by numerical noise (< TRUST_RESOLUTION) counts as a tie too.
  jittered = trust + np.array([3e-6, -2e-6, 1e-6, 0.0, -4e-6, 2e-6])
  np.testing.assert_array_equal(tr.tie_broken_trust(jittered, losses), scores)
  np.testing.assert_array_equal(tr.trust_ranks(jittered, ids, losses), [6, 3, 1, 4, 2, 5])
  # Corrupted: ids 1 (v = 1, the largest loss among v = 1) and 2 (v = 0). v alone ties 4 of the
  # 8 (corrupted, clean) pairs and gets 3 right: AUC 5/8; the tie-broken score orders all but
  # the (id 1, id 4) pair right: 7/8.
  corrupted = np.array([False, True, True, False, False, False])
  assert tr.roc_auc(-trust, corrupted) == pytest.approx(5 / 8)
  assert tr.roc_auc(-scores, corrupted) == pytest.approx(7 / 8)


def test_summary_reports_loss_auc_and_precision_at_noise_rate():
  columns = {"example_id": np.arange(6), "given_label": np.array([1, 1, 1, 1, 1, 1]),
             "clean_label": np.array([1, 0, 0, 1, 1, 1]),
             "trust": np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0]),
             "loss": np.array([0.2, 0.9, 3.0, 0.5, 2.0, 0.5])}
  summary = tr.summarize(columns)
  assert summary["num_corrupted"] == 2
  # The two least trusted are ids 2 (corrupted) and 4 (clean).
  assert summary["precision_at_noise_rate"] == 0.5
  assert summary["loss_noise_detection_roc_auc"] == pytest.approx(tr.roc_auc(columns["loss"], [
      False, True, True, False, False, False]))
  assert summary["noise_detection_roc_auc"] == pytest.approx(7 / 8)


def _student():
  rng = np.random.default_rng(1)
  student = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(NUM_CLASSES)])
  student.layers[-1].kernel.assign(rng.normal(size=(12, NUM_CLASSES)).astype(np.float32))
  return student


def _model(curriculum, step=7, max_steps=10):
  model = trainer_lib.StudentTrainer(_student(), curriculum, max_steps=max_steps)
  model.compile(optimizer=keras.optimizers.SGD(0.1))
  model.optimizer.iterations.assign(step)
  return model


def _dataset(ids=None, n=10):
  rng = np.random.default_rng(2)
  images = rng.normal(size=(n, 2, 2, 3)).astype(np.float32)
  clean = (np.arange(n) % NUM_CLASSES).astype(np.int32)
  given = clean.copy()
  given[[1, 4, 8]] = (clean[[1, 4, 8]] + 1) % NUM_CLASSES  # three corrupted labels
  ids = np.arange(n)[::-1].copy() if ids is None else ids  # out of order on purpose
  features = {"image": images, "id": np.asarray(ids, np.int64), "clean_label": clean}
  return tf.data.Dataset.from_tensor_slices((features, given)).batch(4), images, given, clean, ids


def _losses(student, images, labels):
  return keras.losses.sparse_categorical_crossentropy(
      labels, student(images, training=False), from_logits=True).numpy()


def test_baseline_report_columns_ranks_and_summary(tmp_path):
  model = _model(curriculum_lib.NoCurriculum())
  dataset, images, given, clean, ids = _dataset()
  output = tmp_path / "sub" / "trust.csv"
  summary = tr.write_trust_report(model, dataset, str(output))
  columns = tr.read_csv(output)
  assert output.read_text().splitlines()[0] == ",".join(tr.CSV_COLUMNS)
  order = np.argsort(ids)
  np.testing.assert_array_equal(columns["example_id"], np.arange(10))  # sorted by id
  np.testing.assert_array_equal(columns["given_label"], given[order])
  np.testing.assert_array_equal(columns["clean_label"], clean[order])
  losses = _losses(model.student, images, given)[order]
  np.testing.assert_allclose(columns["loss"], losses, rtol=1e-5)
  np.testing.assert_allclose(columns["trust"], -losses, rtol=1e-5)  # baseline: small loss
  np.testing.assert_array_equal(np.sort(columns["rank"]), np.arange(1, 11))
  assert columns["trust"][columns["rank"] == 1] == columns["trust"].min()
  corrupted = columns["given_label"] != columns["clean_label"]
  assert summary == json.loads((tmp_path / "sub" / "trust_summary.json").read_text())
  assert summary["trust_source"] == "loss" and summary["global_step"] == 7
  assert summary["num_corrupted"] == 3 and summary["noise_rate"] == pytest.approx(0.3)
  assert summary["noise_detection_roc_auc"] == pytest.approx(
      tr.roc_auc(-columns["trust"], corrupted))


def test_data_parameter_trust_flags_large_sigma(tmp_path):
  curriculum = dp.DataParametersCurriculum(NUM_CLASSES, 10, dp.DataParametersSettings(
      learn_inst_parameters=True))
  sigma = np.ones(10, np.float32)
  sigma[[1, 4, 8]] = [3.0, 5.0, 4.0]  # the corrupted ids
  curriculum.log_inst_sigma.assign(np.log(sigma))
  dataset, *_ = _dataset(ids=np.arange(10))
  summary = tr.write_trust_report(_model(curriculum), dataset, str(tmp_path / "t.csv"))
  columns = tr.read_csv(tmp_path / "t.csv")
  np.testing.assert_allclose(columns["trust"], -sigma, rtol=1e-6)
  np.testing.assert_array_equal(columns["rank"][[4, 8, 1]], [1, 2, 3])
  assert summary["trust_source"] == "data_parameters"
  assert summary["noise_detection_roc_auc"] == 1.0
  assert summary["corrupted_fraction_among_least_trusted"] == {
      "0.05": 1.0, "0.1": 1.0, "0.2": 1.0, "0.4": 0.75}
  # Files without ids: positions become example ids, and instance trust is refused.
  no_ids, *_ = _dataset(ids=np.full(10, -1))
  with pytest.raises(UsageError, match="example ids"):
    tr.write_trust_report(_model(curriculum), no_ids, str(tmp_path / "u.csv"))
  tr.write_trust_report(_model(curriculum_lib.NoCurriculum()), no_ids, str(tmp_path / "b.csv"))
  np.testing.assert_array_equal(tr.read_csv(tmp_path / "b.csv")["example_id"], np.arange(10))


def test_mentornet_trust_is_v_at_final_epoch_without_dropout(tmp_path):
  path = str(tmp_path / "mentornet")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=5), path)
  loaded = mentornet_net.load_mentornet(path)
  params = {name: v.numpy().astype(np.float64) for name, v in loaded.parameters.items()}
  curriculum = curriculum_lib.MentorNetCurriculum(
      loaded, burn_in_epoch=90, example_dropout_rates=np.ones(100, np.float32))
  curriculum.loss_moving_average.assign(1.25)
  losses = np.linspace(0.05, 5.0, 9).astype(np.float32)
  step_info = curriculum_lib.StepInfo(step=tf.constant(37, tf.int64), max_steps=50,
                                      seed=tf.zeros([2], tf.int64))
  got = curriculum.trust_scores(tf.constant(losses), step_info).numpy()
  features = np.stack([losses, losses - 1.25, np.zeros(9), np.full(9, 74)], axis=1)
  # Epoch 74 < burn-in 89 and dropout rate 1: neither is applied to the trust.
  np.testing.assert_allclose(got, ref.mentornet_v(params, features), rtol=1e-5, atol=1e-6)
  assert np.all(got < 1) and np.all(got > 0)
  assert float(curriculum.loss_moving_average.numpy()) == 1.25  # not updated

  dataset, images, given, *_ = _dataset()
  model = _model(curriculum, step=37, max_steps=50)
  summary = tr.write_trust_report(model, dataset, str(tmp_path / "m.csv"))
  columns = tr.read_csv(tmp_path / "m.csv")
  order = np.argsort(_dataset()[4])
  losses = _losses(model.student, images, given)[order]
  features = np.stack([losses, losses - 1.25, np.zeros(10), np.full(10, 74)], axis=1)
  np.testing.assert_allclose(columns["trust"], ref.mentornet_v(params, features), rtol=1e-5,
                             atol=1e-6)
  assert summary["trust_source"] == "mentornet"


# ---------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """A 3-step data-parameters run (tiny ResNet) trained in-process; its train_log_dir."""
  root = tmp_path_factory.mktemp("trust_run")
  data_dir = make_tiny_noisy_cifar(root, num_train=32, num_test=4, num_shards=1)
  settings = dp.DataParametersSettings(learn_class_parameters=True, learn_inst_parameters=True,
                                       lr_inst_param=0.5)
  config = train_config.TrainConfig(
      train_log_dir=str(root / "train"), data_dir=str(data_dir / "0.4"),
      curriculum="data_parameters", batch_size=8, max_number_of_steps=3, num_residual_units=1,
      resnet_widths=(8, 8, 16, 16), verbose=0, curriculum_settings=settings.as_dict())
  result = runner.train_and_report(
      config, lambda num_examples, num_classes: dp.DataParametersCurriculum(
          num_classes, num_examples, settings, name="curriculum"))
  assert result["trust_report"]["num_examples"] == 32
  # The data parameters and their momentum buffers are checkpointed with the StudentNet.
  make_curriculum = curriculum_factory.make_curriculum_factory("data_parameters",
                                                              config.curriculum_settings)
  restored, _ = tr.restore_model(config, result["latest_checkpoint"], make_curriculum)
  trained = result["model"].curriculum
  assert len(trained.weights) == 4 and np.any(trained.inst_velocity.numpy() != 0)
  for want, got in zip(trained.weights, restored.curriculum.weights):
    np.testing.assert_array_equal(got.numpy(), want.numpy())
  return root / "train"


def test_cli_reproduces_end_of_training_report(repo_root, trained_run, tmp_path):
  assert (trained_run / "trust_report.csv").exists()
  assert (trained_run / "trust_report_summary.json").exists()
  output = tmp_path / "cli.csv"
  env = subprocess_env(CUDA_VISIBLE_DEVICES="")
  result = subprocess.run(
      [sys.executable, str(repo_root / "code" / "trust_report.py"),
       f"--train_log_dir={trained_run}", f"--output_csv={output}", "--device_id="],
      env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "trust report (data_parameters, step 3)" in result.stdout
  assert output.read_text() == (trained_run / "trust_report.csv").read_text()
  cli_summary = json.loads((tmp_path / "cli_summary.json").read_text())
  end_summary = json.loads((trained_run / "trust_report_summary.json").read_text())
  cli_summary.pop("csv"), end_summary.pop("csv")
  assert cli_summary == end_summary
