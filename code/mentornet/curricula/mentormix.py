"""MentorMix (Jiang, Huang, Liu and Yang, ICML 2020) as a curriculum of the one trainer.

Per mini-batch, as the authors' google-research/mentormix code (cifar_train_mentormix.py and
utils.mentor_mix_up), over the global batch of G examples:
  1. First forward pass: l_i = CE(f(x_i), y_i). v_i = the MentorNet of `MentorNetCurriculum`
     on (l_i, l_i - m, 0, epoch) with its own loss moving average m (the authors' 'individual'
     average), burn-in and example dropout; or, with `weighting="threshold"`, the authors'
     thresholding function on that moving average: v_i = 1[l_i < m].
  2. Partner j_i ~ P_v over the global batch, drawn with replacement: P_v(j) = softmax(v)_j as
     the authors' code (`partner_sampling="softmax"`), or v_j / sum(v) ("proportional").
  3. lambda_i ~ Beta(alpha, alpha); lambda_i <- max(lambda_i, 1 - lambda_i); and
     lambda_i <- lambda_i where v_i >= 0.5, else 1 - lambda_i: the trusted one of the pair
     dominates its mix.
  4. Second forward pass on x~_i = lambda_i x_i + (1 - lambda_i) x_j, trained on both labels:
     l~_i = lambda_i CE(f(x~_i), y_i) + (1 - lambda_i) CE(f(x~_i), y_j) (mixed one-hot target).
  5. Weights w_i = 1, or with `second_reweight` the MentorNet (or threshold) again on l~_i with
     a second moving average (the authors' 'mixed' average).
The trainer minimizes sum_i w_i l~_i / G + weight_decay * sum_i w_i / G. With alpha = 0 there
is no mixing (x~ = x), as in the authors' code.

Differences from the authors' code: random draws are stateless (the trainer's per-step seed) and
global-batch wide, so 1 and N replicas agree; the Beta draw is the inverse CDF of a uniform
(bisection on the regularized incomplete beta function, as XLA has no gamma sampler); with
`second_reweight` the authors' code ends up with no weight decay (their ResNet's decay is not in
the regularization collection they read), here it is weight_decay * sum(w) / G, as the MentorNet
curriculum. The trainer keeps the batch-norm moving statistics of the unmixed first pass, which
is what evaluation sees, and discards the mixed pass's; the authors keep the mixed pass's
(`batch_norm_statistics="mixed"`). Training is the same either way: both passes normalize with
their own batch's statistics. See `StudentTrainer.train_step`.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from mentornet.config import defaults
from mentornet.curricula import base as curriculum_lib
from mentornet.errors import UsageError

WEIGHTINGS = ("mentornet", "threshold")
# Whose batch-norm moving statistics training keeps: the unmixed first pass's (ours; the images
# evaluation sees are unmixed) or the mixed second pass's (the authors' code).
BATCH_NORM_STATISTICS = ("unmixed", "mixed")
PARTNER_SAMPLINGS = ("softmax", "proportional")
# Bisection steps of the Beta inverse CDF: 2^-30 is below float32 resolution on [0, 1].
BETA_BISECTION_STEPS = 30
# Sub-seeds folded into the step seed (the individual MentorNet's dropout uses the step seed).
_PARTNER_SEED, _BETA_SEED, _MIXED_DROPOUT_SEED = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class MentorMixSettings:
  """MentorMix hyper-parameters under the authors' flag names, plus three of ours.

  mixup_alpha: alpha of Beta(alpha, alpha); 0 turns mixing off.
  second_reweight: weigh the mixed losses with the MentorNet (a second moving average).
  weighting: mentornet (v from the MentorNet) or threshold (v = 1[loss < moving average]).
  partner_sampling: softmax (P_v = softmax(v), the authors') or proportional (v / sum(v)).
  batch_norm_statistics: the moving statistics evaluation uses come from the unmixed first
    pass (ours) or the mixed second pass (the authors'); training itself is unchanged.
  The rest as `MentorNetCurriculum`; example_dropout_rates is a `[rate,n_epochs]+` string.
  """
  mixup_alpha: float = defaults.ORIGINAL_MENTORMIX_MIXUP_ALPHA
  second_reweight: bool = defaults.ORIGINAL_MENTORMIX_SECOND_REWEIGHT
  weighting: str = "mentornet"
  partner_sampling: str = "softmax"
  batch_norm_statistics: str = defaults.MENTORMIX_BATCH_NORM_STATISTICS
  loss_p_percentile: float = defaults.ORIGINAL_LOSS_P_PERCENTILE
  loss_moving_average_decay: float = defaults.ORIGINAL_LOSS_MOVING_AVERAGE_DECAY
  burn_in_epoch: int = 0
  fixed_epoch_after_burn_in: bool = False
  example_dropout_rates: str = defaults.ORIGINAL_MENTORMIX_EXAMPLE_DROPOUT_RATES
  trained_mentornet_dir: str = ""

  def validate(self, need_mentornet_dir=True):
    """Raises `UsageError` (one line, naming the flag) for a bad value; returns self.

    `need_mentornet_dir`: also require trained_mentornet_dir with the mentornet weighting.
    """
    alpha = self.mixup_alpha
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
      raise UsageError(f"--mixup_alpha={alpha} must be a finite number >= 0 (0: no mixing)")
    if self.weighting not in WEIGHTINGS:
      raise UsageError(f"--mentormix_weighting={self.weighting!r} is not one of "
                       f"{', '.join(WEIGHTINGS)}")
    if self.partner_sampling not in PARTNER_SAMPLINGS:
      raise UsageError(f"--mentormix_partner_sampling={self.partner_sampling!r} is not one of "
                       f"{', '.join(PARTNER_SAMPLINGS)}")
    if self.batch_norm_statistics not in BATCH_NORM_STATISTICS:
      raise UsageError(f"--mentormix_batch_norm_statistics={self.batch_norm_statistics!r} is not "
                       f"one of {', '.join(BATCH_NORM_STATISTICS)}")
    curriculum_lib.validate_mentornet_settings(
        self.loss_p_percentile, self.loss_moving_average_decay, self.burn_in_epoch,
        self.example_dropout_rates)
    if need_mentornet_dir and self.weighting == "mentornet" and not self.trained_mentornet_dir:
      raise UsageError("--trained_mentornet_dir is required for --curriculum=mentormix with "
                       "--mentormix_weighting=mentornet")
    return self

  def as_dict(self):
    """JSON-ready record (train_config.json's curriculum_settings)."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, record):
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in (record or {}).items() if key in names})


def threshold_mentor(features):
  """The authors' loss thresholding as a MentorNet: float32 [batch, 4] features (loss, loss -
  moving average, label, epoch) -> v [batch, 1] = 1 where loss < moving average, else 0."""
  return tf.cast(features[:, 1:2] < 0.0, tf.float32)


def beta_quantile(u, alpha, steps=BETA_BISECTION_STEPS):
  """Inverse CDF of Beta(alpha, alpha) at u float32 [n] in [0, 1) -> float32 [n] in [0, 1].

  Bisection on the regularized incomplete beta function I_x(alpha, alpha) (XLA-compilable).
  """
  u = tf.cast(u, tf.float32)
  a = tf.fill(tf.shape(u), tf.cast(alpha, tf.float32))
  low, high = tf.zeros_like(u), tf.ones_like(u)
  for _ in range(steps):
    middle = 0.5 * (low + high)
    below = tf.math.betainc(a, a, middle) < u
    low = tf.where(below, middle, low)
    high = tf.where(below, high, middle)
  return 0.5 * (low + high)


def partner_probabilities(v, sampling="softmax"):
  """P_v float32 [G] from v float32 [G]: softmax(v), or v / sum(v) (uniform if sum(v) = 0)."""
  v = tf.cast(v, tf.float32)
  if sampling == "softmax":
    return tf.nn.softmax(v)
  if sampling != "proportional":
    raise ValueError(f"unknown partner sampling {sampling!r}")
  total = tf.reduce_sum(v)
  return tf.where(total > 0.0, v / tf.maximum(total, 1e-30), tf.fill(tf.shape(v), 1.0) /
                  tf.cast(tf.size(v), tf.float32))


def partner_indices(probabilities, uniform):
  """Inverse-CDF draws: int32 [n], index j with cdf_{j-1} <= u * cdf_G < cdf_j.

  Args:
    probabilities: float32 [G] (need not sum to 1).
    uniform: float32 [n] in [0, 1).
  """
  cdf = tf.cumsum(probabilities)
  target = uniform * cdf[-1]
  below = tf.cast(cdf[None, :] <= target[:, None], tf.int32)  # [n, G]
  return tf.minimum(tf.reduce_sum(below, axis=1), tf.size(probabilities) - 1)


def check_mixable(inputs):
  """UsageError unless `inputs` is one float or uint8 tensor (mixup averages inputs)."""
  if not tf.is_tensor(inputs):
    raise UsageError(f"MentorMix mixes the inputs: it needs one input tensor, not a "
                     f"{type(inputs).__name__}")
  if not (inputs.dtype.is_floating or inputs.dtype == tf.uint8):
    raise UsageError(f"MentorMix mixes the inputs, which needs float (or uint8 image) inputs, "
                     f"not {inputs.dtype.name}: use a MentorNet curriculum for these")


def oriented_lambda(beta, v):
  """lambda float32 [n]: max(beta, 1 - beta) where v >= 0.5, else min(beta, 1 - beta)."""
  folded = tf.maximum(beta, 1.0 - beta)
  return tf.where(v >= 0.5, folded, 1.0 - folded)


class MentorMixCurriculum(curriculum_lib.Curriculum):
  """MentorMix: MentorNet weights pick the mixup partners and orient the mix (module doc).

  Args:
    mentornet: callable float32 [batch, 4] -> v [batch, 1] (a loaded MentorNet), or None with
      `settings.weighting == "threshold"`.
    settings: `MentorMixSettings` (validated here, except the MentorNet path).
  """

  needs_second_pass = True

  def __init__(self, mentornet, settings, **kwargs):
    super().__init__(**kwargs)
    settings = settings.validate(need_mentornet_dir=False)
    self.settings = settings
    self.keeps_first_pass_statistics = settings.batch_norm_statistics == "unmixed"
    if settings.weighting == "threshold":
      mentornet = threshold_mentor
    elif mentornet is None:
      raise ValueError("MentorMixCurriculum needs a MentorNet unless weighting='threshold'")
    mentor_kwargs = dict(
        loss_p_percentile=settings.loss_p_percentile, burn_in_epoch=settings.burn_in_epoch,
        fixed_epoch_after_burn_in=settings.fixed_epoch_after_burn_in,
        loss_moving_average_decay=settings.loss_moving_average_decay,
        example_dropout_rates=curriculum_lib.parse_example_dropout_rates(
            settings.example_dropout_rates))
    # Each keeps its own loss moving average (non-trainable weight, checkpointed with us).
    self.individual = curriculum_lib.MentorNetCurriculum(mentornet, name="individual",
                                                         **mentor_kwargs)
    self.mixed = None
    if settings.second_reweight:
      self.mixed = curriculum_lib.MentorNetCurriculum(mentornet, name="mixed", **mentor_kwargs)

  def example_weights(self, losses, labels, features, step_info):
    """First-pass v float32 [local_batch] (constants) and the MentorNet's logs."""
    return self.individual.example_weights(losses, labels, features, step_info)

  def draws(self, seed, global_size):
    """The step's random draws over the global batch, the same on every replica.

    Args:
      seed: int64 [2], the step seed.
      global_size: int32 scalar G.
    Returns:
      {"partner_uniform", "beta_uniform": float32 [G] in [0, 1); "beta": float32 [G], the
      Beta(alpha, alpha) quantile of beta_uniform}. XLA draws other numbers than TensorFlow's
      kernels from the same seed; each is deterministic.
    """
    shape = tf.reshape(global_size, [1])
    fold = tf.random.experimental.stateless_fold_in
    partner_uniform = tf.random.stateless_uniform(shape, seed=fold(seed, _PARTNER_SEED))
    beta_uniform = tf.random.stateless_uniform(shape, seed=fold(seed, _BETA_SEED))
    return {"partner_uniform": partner_uniform, "beta_uniform": beta_uniform,
            "beta": beta_quantile(beta_uniform, self.settings.mixup_alpha)}

  def second_pass(self, forward, images, labels, losses, v, step_info):
    """Mixes the batch, runs the second forward pass and weighs its losses.

    Args:
      forward: callable images [local_batch, ...] -> float32 logits [local_batch, classes],
        training mode (its gradients train the StudentNet).
      images: this replica's images [local_batch, ...]; labels: int32 [local_batch].
      losses: float32 [local_batch] first-pass losses (constants; unused beyond v).
      v: float32 [local_batch] first-pass weights (constants).
      step_info: `StepInfo` of the step.
    Returns:
      (mixed losses float32 [local_batch], differentiable; weights w float32 [local_batch];
      logs {name: scalar} over the global batch).
    """
    del losses
    check_mixable(images)
    local_size = tf.shape(v)[0]
    all_v = curriculum_lib.global_batch(v)  # [G]
    global_size = tf.shape(all_v)[0]
    float_images = tf.cast(images, tf.float32)
    if self.settings.mixup_alpha > 0:
      draws = self.draws(step_info.seed, global_size)
      probabilities = partner_probabilities(all_v, self.settings.partner_sampling)
      all_partners = partner_indices(probabilities, draws["partner_uniform"])
      all_lambdas = oriented_lambda(draws["beta"], all_v)
      partners = curriculum_lib.local_part(all_partners, local_size)
      lambdas = curriculum_lib.local_part(all_lambdas, local_size)
      partner_images = tf.gather(curriculum_lib.global_batch(float_images), partners)
      partner_labels = tf.gather(curriculum_lib.global_batch(labels), partners)
      mix = tf.reshape(lambdas, tf.concat([[-1], tf.ones([tf.rank(images) - 1], tf.int32)], 0))
      mixed_images = mix * float_images + (1.0 - mix) * partner_images
    else:  # The authors' code: no mixing.
      all_partners = tf.range(global_size)
      all_lambdas = tf.ones([global_size], tf.float32)
      lambdas, partner_labels, mixed_images = tf.ones_like(v), labels, float_images
    logits = forward(tf.cast(mixed_images, images.dtype))

    def cross_entropy(targets):
      return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)

    mixed_losses = lambdas * cross_entropy(labels) + (1.0 - lambdas) * cross_entropy(
        partner_labels)
    logs = {}
    if self.mixed is not None:
      mixed_info = curriculum_lib.StepInfo(
          step=step_info.step, max_steps=step_info.max_steps,
          seed=tf.random.experimental.stateless_fold_in(step_info.seed, _MIXED_DROPOUT_SEED))
      weights, mixed_logs = self.mixed.example_weights(tf.stop_gradient(mixed_losses), labels,
                                                       None, mixed_info)
      weights = tf.stop_gradient(weights)
      logs["mixed_percentile_loss"] = mixed_logs["percentile_loss"]
      logs["mixed_loss_moving_average"] = mixed_logs["loss_moving_average"]
    else:
      weights = tf.ones_like(mixed_losses)
    weighted_sum = curriculum_lib.global_sum(
        tf.reduce_sum(tf.stop_gradient(mixed_losses) * weights))
    size = tf.cast(global_size, tf.float32)
    logs.update({
        "mix_loss": weighted_sum / size,
        "mix_lambda_mean": tf.reduce_mean(all_lambdas),
        "mix_partner_v_mean": tf.reduce_mean(tf.gather(all_v, all_partners)),
        "first_batch_sum_v": tf.reduce_sum(all_v),
    })
    return mixed_losses, weights, logs

  def trust_scores(self, losses, step_info):
    """First-pass v of `losses` float32 [batch] (trust report); see `MentorNetCurriculum`."""
    return self.individual.trust_scores(losses, step_info)

  @property
  def loss_moving_average(self):
    """The first pass's loss moving average (the MentorNet's 'individual' one)."""
    return self.individual.loss_moving_average
