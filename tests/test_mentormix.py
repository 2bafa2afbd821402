"""MentorMix (curricula.mentormix): the train step against a NumPy restatement of the paper's
equations, its draws, 1 vs 2 replicas, its flags and its checkpointed state."""
import json
import math
import textwrap

from absl import flags
import keras
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

from conftest import LogRecorder
from conftest import fixed_linear_batch
from conftest import linear_student
from mentornet.analysis import trust_report
from mentornet.cli import flags as flags_lib
from mentornet.cli import mentormix_flags
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import factory
from mentornet.curricula import mentormix
from mentornet.errors import UsageError
from mentornet.models import mentornet_net
from mentornet.training import checkpoints
from mentornet.training import trainer as trainer_lib
import numpy_reference as ref
import replica_harness

BATCH = 12
NUM_CLASSES = 10
L2 = 1e-3
LR = 0.1
MOMENTUM = 0.9
MAX_STEPS = 50
STEEPNESS = 3.0


@pytest.fixture(scope="module")
def mentornet_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("mentornet") / "saved")
  mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=3), path)
  return path


def _sigmoid_mentor(features):
  """A MentorNet stand-in whose v straddles 0.5: sigmoid(-3 (loss - moving average))."""
  return tf.sigmoid(-STEEPNESS * features[:, 1:2])


def _fixed_batch():
  return fixed_linear_batch(11, BATCH, NUM_CLASSES, kernel_scale=0.4)


def _student(kernel, bias):
  return linear_student(kernel, bias, L2)


# ---------------------------------------------------------------------------- NumPy reference


def _mentor_v(kind, params, losses, moving_average, epoch):
  """v [batch] of the first or second weighting (float64)."""
  if kind == "threshold":
    return (losses < moving_average).astype(np.float64)
  if kind == "sigmoid":
    return 1.0 / (1.0 + np.exp(STEEPNESS * (losses - moving_average)))
  features = np.stack([losses, losses - moving_average, np.zeros_like(losses),
                       np.full_like(losses, epoch)], axis=1)
  return ref.mentornet_v(params, features)


def _reference_step(kind, params, x, y, w, b, state, draws, step, settings):
  """One MentorMix step from the paper's equations; returns logs and updates `state`."""
  n = len(y)
  q, decay = settings.loss_p_percentile, settings.loss_moving_average_decay
  epoch = int(np.floor(step / MAX_STEPS * 100))
  losses, _ = ref.softmax_cross_entropy(x @ w + b, y)
  state["m1"] = decay * state["m1"] + (1 - decay) * ref.nearest_percentile(losses, q)
  v = _mentor_v(kind, params, losses, state["m1"], epoch)
  # Importance sampling of the partner: P_v = softmax(v) (or v / sum v), inverse CDF of u.
  p = np.exp(v) / np.exp(v).sum() if settings.partner_sampling == "softmax" else v / v.sum()
  cdf = np.cumsum(p)
  j = np.minimum(np.searchsorted(cdf, draws["partner_uniform"] * cdf[-1], side="right"), n - 1)
  # lambda ~ Beta(alpha, alpha), max(lambda, 1 - lambda) kept by a trusted (v >= 0.5) example.
  lam = np.maximum(draws["beta"], 1 - draws["beta"])
  lam = np.where(v >= 0.5, lam, 1 - lam)
  x_mix = lam[:, None] * x + (1 - lam[:, None]) * x[j]
  logits = x_mix @ w + b
  loss_i, probs = ref.softmax_cross_entropy(logits, y)
  loss_j, _ = ref.softmax_cross_entropy(logits, y[j])
  mixed = lam * loss_i + (1 - lam) * loss_j
  if settings.second_reweight:
    state["m2"] = decay * state["m2"] + (1 - decay) * ref.nearest_percentile(mixed, q)
    weights = _mentor_v(kind, params, mixed, state["m2"], epoch)
  else:
    weights = np.ones(n)
  used = weights.sum() / n
  weighted = np.mean(mixed * weights)
  target = lam[:, None] * np.eye(NUM_CLASSES)[y] + (1 - lam[:, None]) * np.eye(NUM_CLASSES)[y[j]]
  grad_logits = (probs - target) * weights[:, None] / n
  grad_w = x_mix.T @ grad_logits + 2 * L2 * w * used
  grad_b = grad_logits.sum(axis=0)
  state["vel_w"] = MOMENTUM * state["vel_w"] - LR * grad_w
  state["vel_b"] = MOMENTUM * state["vel_b"] - LR * grad_b
  logs = dict(orig_loss=losses.mean(), loss_moving_average=state["m1"], mix_loss=weighted,
              weighted_loss=weighted, total_loss=weighted + L2 * np.sum(w * w) * used,
              batch_sum_v=weights.sum(), first_batch_sum_v=v.sum(), mix_lambda_mean=lam.mean(),
              mix_partner_v_mean=v[j].mean())
  if settings.second_reweight:
    logs["mixed_loss_moving_average"] = state["m2"]
  return logs, w + state["vel_w"], b + state["vel_b"], dict(v=v, j=j, lam=lam)


CASES = {
    # (mentor, settings)
    "sigmoid_second_reweight": ("sigmoid", mentormix.MentorMixSettings(
        mixup_alpha=2.0, second_reweight=True, loss_p_percentile=0.6)),
    "threshold_proportional": ("threshold", mentormix.MentorMixSettings(
        mixup_alpha=8.0, second_reweight=False, weighting="threshold",
        partner_sampling="proportional", loss_moving_average_decay=0.0)),
    "mentornet_savedmodel": ("mentornet", mentormix.MentorMixSettings(
        mixup_alpha=4.0, second_reweight=True)),
}


@pytest.mark.parametrize("case,jit_compile", [(name, False) for name in CASES] +
                         [("sigmoid_second_reweight", True)])
def test_two_steps_match_numpy_reference(case, jit_compile, mentornet_dir):
  kind, settings = CASES[case]
  images, labels, kernel, bias = _fixed_batch()
  params = None
  if kind == "mentornet":
    mentor = mentornet_net.load_mentornet(mentornet_dir)
    params = {name: variable.numpy().astype(np.float64)
              for name, variable in mentor.parameters.items()}
  else:
    mentor = _sigmoid_mentor if kind == "sigmoid" else None
  student = _student(kernel, bias)
  curriculum = mentormix.MentorMixCurriculum(mentor, settings, name="curriculum")
  model = trainer_lib.StudentTrainer(student, curriculum, max_steps=MAX_STEPS, random_seed=4)
  model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM), jit_compile=jit_compile)
  features = {"image": images, "id": np.arange(BATCH, dtype=np.int64), "clean_label": labels}
  dataset = tf.data.Dataset.from_tensors((features, labels)).repeat()
  recorder = LogRecorder()
  model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0, callbacks=[recorder],
            shuffle=False)

  # The same draws as the step, computed alone (XLA draws its own numbers, so compile alike).
  draw = tf.function(curriculum.draws, jit_compile=jit_compile)
  x = images.reshape(BATCH, -1).astype(np.float64)
  w, b = kernel.astype(np.float64), bias.astype(np.float64)
  state = dict(m1=0.0, m2=0.0, vel_w=np.zeros_like(w), vel_b=np.zeros_like(b))
  orientations, partners = set(), []
  for step, got in enumerate(recorder.logs):
    draws = {k: t.numpy().astype(np.float64)
             for k, t in draw(model._step_seed(tf.constant(step, tf.int64)), BATCH).items()}
    want, w, b, inner = _reference_step(kind, params, x, labels, w, b, state, draws, step,
                                        settings)
    for key, value in want.items():
      np.testing.assert_allclose(got[key], value, rtol=5e-5, atol=1e-5, err_msg=f"{key} {step}")
    orientations |= set(inner["v"] >= 0.5)
    partners.append(inner["j"])
  assert len(recorder.logs) == 2
  np.testing.assert_allclose(student.layers[-1].kernel.numpy(), w, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(student.layers[-1].bias.numpy(), b, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(curriculum.individual.loss_moving_average.numpy(), state["m1"],
                             rtol=1e-5)
  if settings.second_reweight:
    np.testing.assert_allclose(curriculum.mixed.loss_moving_average.numpy(), state["m2"],
                               rtol=1e-5)
  # Not trivial: examples were mixed with others; both orientations occur where v spreads.
  assert any(np.any(j != np.arange(BATCH)) for j in partners)
  if kind != "mentornet":
    assert orientations == {True, False}


def test_no_mixing_at_alpha_zero():
  images, labels, kernel, bias = _fixed_batch()
  settings = mentormix.MentorMixSettings(mixup_alpha=0.0, second_reweight=False,
                                         weighting="threshold")
  model = trainer_lib.StudentTrainer(_student(kernel, bias), mentormix.MentorMixCurriculum(
      None, settings), max_steps=MAX_STEPS)
  model.compile(optimizer=keras.optimizers.SGD(LR))
  features = {"image": images, "id": np.arange(BATCH, dtype=np.int64), "clean_label": labels}
  recorder = LogRecorder()
  model.fit(tf.data.Dataset.from_tensors((features, labels)), epochs=1, verbose=0,
            callbacks=[recorder], shuffle=False)
  log = recorder.logs[0]
  assert log["mix_lambda_mean"] == 1.0 and log["batch_sum_v"] == BATCH
  np.testing.assert_allclose(log["mix_loss"], log["orig_loss"], rtol=1e-6)


@pytest.mark.parametrize("kept,jit_compile", [("unmixed", False), ("mixed", False),
                                               ("unmixed", True)])
def test_one_pass_updates_the_batch_norm_statistics(kept, jit_compile):
  """Only the unmixed pass (ours) or only the mixed pass (the authors') updates the moving
  statistics (compiled by XLA too: the unmixed batch does not depend on XLA's draws)."""
  images, labels, _, _ = _fixed_batch()
  images = images + 3.0  # Far from zero, so a first-pass update would show.
  keras.utils.set_random_seed(0)
  student = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.BatchNormalization(momentum=0.5),
                              keras.layers.Dense(NUM_CLASSES)])
  settings = mentormix.MentorMixSettings(mixup_alpha=1.0, second_reweight=False,
                                         weighting="threshold", loss_moving_average_decay=0.0,
                                         batch_norm_statistics=kept)
  curriculum = mentormix.MentorMixCurriculum(None, settings)
  model = trainer_lib.StudentTrainer(student, curriculum, max_steps=MAX_STEPS)
  # The weights stay as they are.
  model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=jit_compile)
  bn, dense = student.layers[1], student.layers[2]
  flat = images.reshape(BATCH, -1).astype(np.float64)
  losses, _ = ref.softmax_cross_entropy(_bn_train_logits(flat, bn, dense), labels)
  features = {"image": images, "id": np.arange(BATCH, dtype=np.int64), "clean_label": labels}
  model.fit(tf.data.Dataset.from_tensors((features, labels)), epochs=1, verbose=0,
            shuffle=False)

  v = (losses < ref.nearest_percentile(losses, settings.loss_p_percentile)).astype(np.float64)
  draws = {k: t.numpy().astype(np.float64) for k, t in curriculum.draws(
      model._step_seed(tf.constant(0, tf.int64)), BATCH).items()}
  cdf = np.cumsum(np.exp(v) / np.exp(v).sum())
  j = np.minimum(np.searchsorted(cdf, draws["partner_uniform"] * cdf[-1], side="right"),
                 BATCH - 1)
  lam = np.maximum(draws["beta"], 1 - draws["beta"])
  lam = np.where(v >= 0.5, lam, 1 - lam)
  mixed = lam[:, None] * flat + (1 - lam[:, None]) * flat[j]
  batch = {"unmixed": flat, "mixed": mixed}[kept]
  # From the initial (0, 1): one update with momentum 0.5 from that pass's batch alone.
  np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * batch.mean(axis=0), rtol=1e-4,
                             atol=1e-5)
  np.testing.assert_allclose(bn.moving_variance.numpy(), 0.5 + 0.5 * batch.var(axis=0),
                             rtol=1e-4, atol=1e-5)


def _bn_train_logits(flat, bn, dense):
  """Logits with batch-norm in training mode (batch moments, Keras's epsilon), NumPy."""
  mean, var = flat.mean(axis=0), flat.var(axis=0)
  normed = (flat - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()
  return normed @ dense.kernel.numpy() + dense.bias.numpy()


# ---------------------------------------------------------------------------- the draws


@pytest.mark.parametrize("sampling", mentormix.PARTNER_SAMPLINGS)
def test_partner_frequencies_follow_p_v(sampling):
  v = np.array([0.0, 0.1, 0.5, 0.9, 1.0, 0.3], np.float32)
  p = np.exp(v) / np.exp(v).sum() if sampling == "softmax" else v / v.sum()
  probabilities = mentormix.partner_probabilities(tf.constant(v), sampling)
  np.testing.assert_allclose(probabilities.numpy(), p, rtol=1e-6)
  n = 200_000
  uniform = tf.random.stateless_uniform([n], seed=[5, 6])
  counts = np.bincount(mentormix.partner_indices(probabilities, uniform).numpy(), minlength=6)
  if sampling == "proportional":
    assert counts[0] == 0  # v = 0 is never a partner
  np.testing.assert_allclose(counts / n, p, atol=4 * np.sqrt(0.25 / n))


def test_proportional_sampling_of_all_zero_v_is_uniform():
  probabilities = mentormix.partner_probabilities(tf.zeros([4]), "proportional").numpy()
  np.testing.assert_allclose(probabilities, np.full(4, 0.25))


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0, 8.0, 32.0])
def test_beta_quantile_is_the_beta_inverse_cdf(alpha):
  u = np.linspace(0.001, 0.999, 101).astype(np.float32)
  got = mentormix.beta_quantile(tf.constant(u), alpha).numpy()
  np.testing.assert_allclose(got, stats.beta.ppf(u.astype(np.float64), alpha, alpha),
                             atol=2e-5)


def test_oriented_lambda_lets_the_trusted_example_dominate():
  beta = tf.constant([0.2, 0.7, 0.2, 0.7, 0.5])
  v = tf.constant([0.9, 0.9, 0.1, 0.1, 0.5])
  np.testing.assert_allclose(mentormix.oriented_lambda(beta, v).numpy(),
                             [0.8, 0.7, 0.2, 0.3, 0.5], rtol=1e-6)


# ---------------------------------------------------------------------------- replicas

REPLICA_SCRIPT = textwrap.dedent("""
    import sys
    import replica_harness as harness
    harness.split_cpu_in_two()
    import json
    from mentornet.curricula import mentormix
    from mentornet.models import mentornet_net

    out_path, mentornet_dir, scalar_logs = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    # Example dropout on (both weightings) and the second reweight.
    settings = mentormix.MentorMixSettings(mixup_alpha=2.0, second_reweight=True,
                                           example_dropout_rates="0.3,100")
    result = harness.one_and_two_replicas(
        lambda: mentormix.MentorMixCurriculum(mentornet_net.load_mentornet(mentornet_dir),
                                              settings, name="curriculum"),
        record_step=lambda cur, logs: {k: float(logs[k]) for k in scalar_logs},
        record_end=lambda model: {
            "weights": [w.numpy().ravel().tolist() for w in model.student.weights],
            "moving_averages": [
                float(model.curriculum.individual.loss_moving_average.numpy()),
                float(model.curriculum.mixed.loss_moving_average.numpy())]})
    with open(out_path, "w") as f:
      json.dump(result, f)
""")

SCALAR_LOGS = ("orig_loss", "weighted_loss", "total_loss", "batch_sum_v", "data_util",
               "percentile_loss", "loss_moving_average", "mix_loss", "mix_lambda_mean",
               "mix_partner_v_mean", "first_batch_sum_v", "mixed_percentile_loss",
               "mixed_loss_moving_average")


def test_one_and_two_replicas_agree(tmp_path, mentornet_dir):
  result = replica_harness.run_script(REPLICA_SCRIPT, tmp_path / "out.json", mentornet_dir,
                                      ",".join(SCALAR_LOGS), timeout=600)
  one, two = result["one"], result["two"]
  assert len(one["history"]) == len(two["history"]) == 3
  for a, b in zip(one["history"], two["history"]):
    for key in SCALAR_LOGS:
      np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
  # Example dropout 0.3 of 16 keeps 11 in each weighting; the mix is not the identity.
  assert all(h["first_batch_sum_v"] < 11.5 and h["mix_lambda_mean"] < 0.99
             for h in one["history"])
  # Weights and batch-norm statistics (the mixed pass's only) agree.
  for a, b in zip(one["weights"], two["weights"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(one["moving_averages"], two["moving_averages"], rtol=1e-6)


# ---------------------------------------------------------------------------- flags


def _global_flags():
  """The global FLAGS with the MentorNet and MentorMix flags defined (once), unparsed."""
  if "loss_p_percentile" not in flags.FLAGS:
    flags_lib.define_mentornet_flags()
  if "mixup_alpha" not in flags.FLAGS:
    mentormix_flags.define_mentormix_flags()
  flags.FLAGS.unparse_flags()
  return flags.FLAGS


def _settings_from(args):
  values = _global_flags()
  try:
    values(["prog", *args])
    return mentormix_flags.mentormix_settings_from_flags(values)
  finally:
    values.unparse_flags()


def test_flag_defaults_are_the_authors(mentornet_dir):
  settings = _settings_from([f"--trained_mentornet_dir={mentornet_dir}"])
  assert (settings.mixup_alpha, settings.second_reweight, settings.loss_p_percentile,
          settings.loss_moving_average_decay, settings.burn_in_epoch) == (8.0, True, 0.7, 0.5, 0)
  assert settings.example_dropout_rates == "0.0,100"  # MentorMix's, not the MentorNet's
  assert (settings.weighting, settings.partner_sampling) == ("mentornet", "softmax")
  assert settings.batch_norm_statistics == "unmixed"  # ours; "mixed" is the authors'
  given = _settings_from([f"--trained_mentornet_dir={mentornet_dir}", "--nosecond_reweight",
                          "--mixup_alpha=2", "--example_dropout_rates=0.5,17,0.05,83",
                          "--burn_in_epoch=10", "--loss_p_percentile=0.6"])
  assert (given.mixup_alpha, given.second_reweight, given.burn_in_epoch,
          given.loss_p_percentile) == (2.0, False, 10, 0.6)
  assert given.example_dropout_rates == "0.5,17,0.05,83"
  assert _settings_from(["--mentormix_weighting=threshold"]).trained_mentornet_dir == ""


@pytest.mark.parametrize("args,fragment", [
    (["--mixup_alpha=-1"], "--mixup_alpha=-1.0 must be a finite number >= 0"),
    (["--mixup_alpha=nan"], "--mixup_alpha=nan"),
    (["--mixup_alpha=inf"], "--mixup_alpha=inf"),
    (["--mentormix_weighting=oracle"], "--mentormix_weighting='oracle' is not one of"),
    (["--mentormix_partner_sampling=uniform"], "--mentormix_partner_sampling='uniform'"),
    (["--mentormix_batch_norm_statistics=both"],
     "--mentormix_batch_norm_statistics='both' is not one of unmixed, mixed"),
    (["--loss_p_percentile=0"], "--loss_p_percentile=0 is outside (0, 1]"),
    (["--loss_moving_average_decay=1.5"], "--loss_moving_average_decay=1.5 is outside"),
    (["--burn_in_epoch=101"], "--burn_in_epoch=101 is outside [0, 100]"),
    (["--example_dropout_rates=0.5,50"], "sum to 50"),
    (["--mentormix_weighting=mentornet", "--trained_mentornet_dir="],
     "--trained_mentornet_dir is required"),
    (["--trained_mentornet_dir=/nonexistent/mentornet"], "does not exist"),
])
def test_bad_flag_values(args, fragment, mentornet_dir):
  if not any(a.startswith("--trained_mentornet_dir") for a in args):
    args = [f"--trained_mentornet_dir={mentornet_dir}", *args]
  with pytest.raises(UsageError) as info:
    _settings_from(args)
  message = str(info.value)
  assert fragment in message and "\n" not in message


def test_bad_second_reweight_value_is_refused_by_the_parser():
  values = _global_flags()
  with pytest.raises(flags.IllegalFlagValueError):
    values(["prog", "--second_reweight=maybe"])
  values.unparse_flags()


# ---------------------------------------------------------------------------- state


def test_checkpoint_round_trip_and_factory(tmp_path, mentornet_dir):
  images, labels, kernel, bias = _fixed_batch()
  settings = mentormix.MentorMixSettings(mixup_alpha=2.0, trained_mentornet_dir=mentornet_dir)
  make = factory.make_curriculum_factory("mentormix", settings.as_dict())

  def build():
    model = trainer_lib.StudentTrainer(_student(kernel, bias), make(num_examples=BATCH,
                                                                    num_classes=NUM_CLASSES),
                                       max_steps=MAX_STEPS)
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM))
    return model

  model = build()
  features = {"image": images, "id": np.arange(BATCH, dtype=np.int64), "clean_label": labels}
  model.fit(tf.data.Dataset.from_tensors((features, labels)).repeat(), epochs=1,
            steps_per_epoch=2, verbose=0, shuffle=False)
  saved = [float(model.curriculum.individual.loss_moving_average.numpy()),
           float(model.curriculum.mixed.loss_moving_average.numpy())]
  assert min(saved) > 0
  path = checkpoints.make_checkpoint(model).save(str(tmp_path / "ckpt"))
  names = [name for name, _ in tf.train.list_variables(path)]
  assert any("individual" in name for name in names) and any("mixed" in name for name in names)

  restored = build()
  restored.optimizer.build(restored.student.trainable_variables)
  checkpoints.make_checkpoint(restored).restore(path).assert_existing_objects_matched()
  assert [float(restored.curriculum.individual.loss_moving_average.numpy()),
          float(restored.curriculum.mixed.loss_moving_average.numpy())] == saved
  assert trust_report.trust_source(restored.curriculum) == "mentornet"
  step_info = curriculum_lib.StepInfo(step=tf.constant(10, tf.int64), max_steps=MAX_STEPS,
                                      seed=tf.constant([0, 0], tf.int64))
  trust = restored.curriculum.trust_scores(tf.constant([0.1, 5.0]), step_info).numpy()
  assert trust.shape == (2,) and np.all((trust >= 0) & (trust <= 1))


def test_settings_record_round_trip():
  settings = mentormix.MentorMixSettings(mixup_alpha=4.0, second_reweight=False,
                                         weighting="threshold", burn_in_epoch=10,
                                         batch_norm_statistics="mixed")
  record = json.loads(json.dumps(settings.as_dict()))
  assert mentormix.MentorMixSettings.from_dict(record) == settings
  assert math.isclose(record["mixup_alpha"], 4.0)
