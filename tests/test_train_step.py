"""The MentorNet train step against the NumPy restatement of the SPEC on a fixed batch."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import LogRecorder
from conftest import fixed_linear_batch
from conftest import linear_student
from mentornet.curricula import base as curriculum_lib
from mentornet.errors import UsageError
from mentornet.models import mentornet_net
from mentornet.training import trainer as trainer_lib
import numpy_reference as ref

BATCH = 10
NUM_CLASSES = 10
L2 = 1e-3
LR = 0.1
MOMENTUM = 0.9


@pytest.fixture(scope="module")
def mentornet_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("mentornet") / "saved")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=3), path)
  return path


@pytest.fixture(scope="module")
def mentornet_params(mentornet_dir):
  loaded = mentornet_net.load_mentornet(mentornet_dir)
  return {name: variable.numpy().astype(np.float64)
          for name, variable in loaded.parameters.items()}


def _fixed_batch():
  return fixed_linear_batch(7, BATCH, NUM_CLASSES, kernel_scale=0.3)


def _student(kernel, bias):
  return linear_student(kernel, bias, L2)


def _reference_steps(params, images, labels, kernel, bias, num_steps, max_steps, q, decay):
  """Plain NumPy: per step logs and the final (kernel, bias, moving average)."""
  x = images.reshape(BATCH, -1).astype(np.float64)
  w, b = kernel.astype(np.float64), bias.astype(np.float64)
  vel_w, vel_b = np.zeros_like(w), np.zeros_like(b)
  moving_average = 0.0
  logs = []
  for step in range(num_steps):
    losses, probs = ref.softmax_cross_entropy(x @ w + b, labels)
    percentile = ref.nearest_percentile(losses, q)
    moving_average = decay * moving_average + (1 - decay) * percentile
    epoch = int(np.floor(step / max_steps * 100))
    features = np.stack([losses, losses - moving_average, np.zeros(BATCH),
                         np.full(BATCH, epoch)], axis=1)
    v = ref.mentornet_v(params, features)
    used = v.sum() / BATCH
    weighted = np.mean(losses * v)
    logs.append(dict(percentile_loss=percentile, loss_moving_average=moving_average, v=v,
                     weighted_loss=weighted, total_loss=weighted + L2 * np.sum(w * w) * used,
                     batch_sum_v=v.sum()))
    grad_logits = (probs - np.eye(NUM_CLASSES)[labels]) * v[:, None] / BATCH
    grad_w = x.T @ grad_logits + 2 * L2 * w * used
    grad_b = grad_logits.sum(axis=0)
    vel_w = MOMENTUM * vel_w - LR * grad_w
    vel_b = MOMENTUM * vel_b - LR * grad_b
    w, b = w + vel_w, b + vel_b
  return logs, w, b, moving_average


def test_three_steps_match_numpy_reference(mentornet_dir, mentornet_params):
  images, labels, kernel, bias = _fixed_batch()
  max_steps, q, decay = 50, 0.75, 0.5
  student = _student(kernel, bias)
  mentornet = mentornet_net.load_mentornet(mentornet_dir)
  curriculum = curriculum_lib.MentorNetCurriculum(
      mentornet, loss_p_percentile=q, loss_moving_average_decay=decay,
      example_dropout_rates=np.zeros(100, np.float32))
  model = trainer_lib.StudentTrainer(student, curriculum, max_steps=max_steps)
  model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM))
  features = {"image": images, "id": np.arange(BATCH, dtype=np.int64),
              "clean_label": labels}
  dataset = tf.data.Dataset.from_tensors((features, labels)).repeat()
  recorder = LogRecorder()
  model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0, callbacks=[recorder],
            shuffle=False)

  expected, w, b, moving_average = _reference_steps(
      mentornet_params, images, labels, kernel, bias, 3, max_steps, q, decay)
  assert len(recorder.logs) == 3
  for got, want in zip(recorder.logs, expected):
    for key in ("percentile_loss", "loss_moving_average", "weighted_loss", "total_loss",
                "batch_sum_v"):
      np.testing.assert_allclose(got[key], want[key], rtol=2e-5, atol=1e-6, err_msg=key)
  np.testing.assert_allclose(float(curriculum.loss_moving_average.numpy()), moving_average,
                             rtol=1e-5)
  np.testing.assert_allclose(student.layers[-1].kernel.numpy(), w, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(student.layers[-1].bias.numpy(), b, rtol=1e-4, atol=1e-5)
  # The MentorNet did weigh examples unevenly, so the check above is not the trivial v = 1.
  assert np.ptp(expected[-1]["v"]) > 1e-3


def _weights_at(curriculum, losses, step, max_steps=100, seed=(1, 2)):
  step_info = curriculum_lib.StepInfo(step=tf.constant(step, tf.int64), max_steps=max_steps,
                                      seed=tf.constant(seed, tf.int64))
  v, logs = curriculum.example_weights(tf.constant(losses, tf.float32), None, None, step_info)
  return v.numpy(), {k: float(t) for k, t in logs.items()}


def test_example_weights_v_and_dropout_counts(mentornet_dir, mentornet_params):
  losses = np.random.default_rng(0).gamma(2.0, 1.0, size=128).astype(np.float32)
  rates = curriculum_lib.parse_example_dropout_rates("0.5,17,0.05,78,1.0,5")
  curriculum = curriculum_lib.MentorNetCurriculum(
      mentornet_net.load_mentornet(mentornet_dir), loss_p_percentile=0.7,
      loss_moving_average_decay=0.0, example_dropout_rates=rates)
  for epoch, expected_kept in ((0, 64), (17, 121), (94, 121), (95, 0), (99, 0)):
    v, logs = _weights_at(curriculum, losses, step=epoch)
    assert np.count_nonzero(v) == expected_kept, epoch
    assert logs["dropout_rate"] == pytest.approx(rates[epoch])
    moving_average = ref.nearest_percentile(losses, 0.7)  # decay 0: the percentile itself
    features = np.stack([losses, losses - moving_average, np.zeros(128), np.full(128, epoch)], 1)
    full_v = ref.mentornet_v(mentornet_params, features)
    kept = v > 0
    np.testing.assert_allclose(v[kept], full_v[kept], rtol=1e-5, atol=1e-6)


def test_burn_in_and_fixed_epoch(mentornet_dir, mentornet_params):
  losses = np.linspace(0.1, 6.0, 16).astype(np.float32)
  no_dropout = np.zeros(100, np.float32)
  burn_in = curriculum_lib.MentorNetCurriculum(
      mentornet_net.load_mentornet(mentornet_dir), burn_in_epoch=10,
      example_dropout_rates=no_dropout)
  v, _ = _weights_at(burn_in, losses, step=8)  # epoch 8 < 10 - 1: forced to 1
  np.testing.assert_array_equal(v, np.ones(16))
  v, _ = _weights_at(burn_in, losses, step=9)  # epoch 9: the MentorNet decides
  assert np.all(v < 1.0)

  fixed = curriculum_lib.MentorNetCurriculum(
      mentornet_net.load_mentornet(mentornet_dir), burn_in_epoch=18,
      fixed_epoch_after_burn_in=True, loss_moving_average_decay=0.0,
      example_dropout_rates=curriculum_lib.parse_example_dropout_rates("0.5,17,0.05,83"))
  v, logs = _weights_at(fixed, losses, step=60)
  assert logs["epoch_step"] == 18 and logs["dropout_rate"] == pytest.approx(0.05)
  ma = ref.nearest_percentile(losses, 0.7)
  full_v = ref.mentornet_v(mentornet_params, np.stack(
      [losses, losses - ma, np.zeros(16), np.full(16, 18)], 1))
  kept = v > 0
  assert kept.sum() == 15
  np.testing.assert_allclose(v[kept], full_v[kept], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n,q", [(10, 0.5), (10, 0.75), (128, 0.7), (7, 1.0), (5, 0.125),
                                 (4, 0.5), (16, 0.7), (32, 0.9), (128, 0.75)])
def test_nearest_rank_percentile(n, q):
  values = np.random.default_rng(n).normal(size=n).astype(np.float32)
  got = curriculum_lib.nearest_rank_percentile(tf.constant(values), q).numpy()
  assert got == ref.nearest_percentile(values, q)


def test_keep_mask_count_and_seed_dependence():
  a = curriculum_lib.random_keep_mask(50, 20, tf.constant([1, 5], tf.int64)).numpy()
  b = curriculum_lib.random_keep_mask(50, 20, tf.constant([2, 5], tf.int64)).numpy()
  assert a.sum() == 20 and b.sum() == 20 and set(np.unique(a)) == {0.0, 1.0}
  assert not np.array_equal(a, b)


@pytest.mark.parametrize("spec,fragment", [
    ("0.5,17,0.05", "pairs"),
    ("0.5,17,0.05,78", "sum to 95"),
    ("1.5,100", "outside [0, 1]"),
    ("-0.1,100", "outside [0, 1]"),
    ("0.5,50.5,0.1,49.5", "positive integer"),
    ("0.5,x", "not a number"),
])
def test_bad_example_dropout_rates(spec, fragment):
  with pytest.raises(UsageError) as info:
    curriculum_lib.parse_example_dropout_rates(spec)
  assert fragment in str(info.value)


def test_dropout_schedule_parses_original_default():
  rates = curriculum_lib.parse_example_dropout_rates(["0.5", " 17", " 0.05", " 78", " 1.0", " 5"])
  assert rates.shape == (100,)
  assert rates[16] == 0.5 and rates[17] == np.float32(0.05) and rates[94] == 0.05
  assert rates[95] == 1.0


@pytest.mark.parametrize("jit_compile,steps_per_execution", [(False, 1), (True, 2)])
def test_first_nonfinite_step_is_recorded_and_updates_nothing(jit_compile, steps_per_execution):
  images, labels, kernel, bias = _fixed_batch()
  bad = images.copy()
  bad[0, 0, 0, 0] = np.inf  # Step 3's batch: its loss is NaN.
  batches = np.stack([images, images, bad, images, images])
  features = {"image": batches, "id": np.zeros([5, BATCH], np.int64),
              "clean_label": np.stack([labels] * 5)}
  dataset = tf.data.Dataset.from_tensor_slices((features, np.stack([labels] * 5)))

  def train(num_steps):
    student = _student(kernel, bias)
    model = trainer_lib.StudentTrainer(student, curriculum_lib.NoCurriculum(), max_steps=10)
    model.compile(optimizer=keras.optimizers.SGD(LR), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    recorder = LogRecorder()
    model.fit(dataset.take(num_steps), epochs=1, verbose=0, callbacks=[recorder],
              shuffle=False)
    return model, student, recorder.logs

  _, good_student, good_logs = train(2)
  model, student, logs = train(5)
  assert int(model.nonfinite_step.numpy()) == 3
  assert [log["nonfinite_step"] for log in good_logs][-1] == 0
  assert logs[-1]["nonfinite_step"] == 3
  # Steps 3-5 changed nothing: the weights are those after step 2, all finite.
  for got, want in zip(student.weights, good_student.weights):
    np.testing.assert_array_equal(got.numpy(), want.numpy())
  assert int(model.optimizer.iterations.numpy()) == 5
