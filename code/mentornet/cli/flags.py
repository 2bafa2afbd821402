"""absl flags shared by the scripts in code/, with the original names and defaults.

Scripts call the `define_*` functions they need, then `train_config_from_flags` /
`validate_*`, which raise `UsageError` (one line, exit 2) before anything is written.
"""
import dataclasses
import os

from absl import flags
from absl import logging

from mentornet.config import datasets
from mentornet.config import defaults
from mentornet.config.defaults import MIXED_PRECISION_HELP
from mentornet.config.defaults import MIXED_PRECISION_POLICIES
from mentornet.config.train_config import TrainConfig
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import data_parameters
from mentornet.data import records
from mentornet.errors import UsageError
from mentornet.models import studentnets
from mentornet.training import distribution

FLAGS = flags.FLAGS


def define_data_and_model_flags(batch_size_default=128):
  flags.DEFINE_integer("batch_size", batch_size_default, "The number of images in each batch.")
  flags.DEFINE_string("data_dir", "", "Directory of the TFRecord files (<name>_<split>-*).")
  flags.DEFINE_string("dataset_name", "cifar10", f"One of {', '.join(datasets.DATASETS)}.")
  flags.DEFINE_string("studentnet", "resnet101",
                      f"StudentNet: one of {', '.join(studentnets.STUDENTNETS)}.")
  flags.DEFINE_string("device_id", "", "GPU id(s) to use, e.g. 0 or 0,1 (sets "
                      "CUDA_VISIBLE_DEVICES, replacing an inherited value); '' (default) "
                      "keeps the environment's setting: all GPUs unless it restricts them.")
  flags.DEFINE_integer("num_residual_units", defaults.RESNET_DEFAULT_UNITS,
                       "ResNet residual units per stage (9 gives the original WRN-56).")
  flags.DEFINE_string("resnet_widths", ",".join(map(str, defaults.RESNET_DEFAULT_WIDTHS)),
                      "ResNet filters: stem and 3 stages (16,160,320,640 is the original).")


def define_training_flags():
  """The original training flags plus the TF2 additions."""
  define_data_and_model_flags()
  flags.DEFINE_string("train_log_dir", "", "Directory for checkpoints and summaries.")
  flags.DEFINE_float("learning_rate", 0.1, "The learning rate.")
  flags.DEFINE_float("learning_rate_decay_factor", 0.1, "Learning rate decay factor.")
  flags.DEFINE_float("num_epochs_per_decay", 50, "Epochs after which the learning rate decays.")
  flags.DEFINE_integer("save_summaries_secs", 120, "Seconds between summary writes.")
  flags.DEFINE_integer("save_interval_secs", 1200, "Seconds between checkpoints.")
  flags.DEFINE_integer("max_number_of_steps", defaults.ORIGINAL_RESNET_STEPS,
                       "The maximum number of gradient steps.")
  # TF1 cluster flags, accepted so old command lines parse; see `validate_cluster_flags`.
  define_master_flag()
  flags.DEFINE_integer("ps_tasks", 0, "TF1 parameter servers; only 0 is supported (use "
                       "TF_CONFIG with MultiWorkerMirroredStrategy).")
  flags.DEFINE_integer("task", 0, "TF1 task id; in TF2 the task comes from TF_CONFIG.")
  # TF2 additions.
  flags.DEFINE_enum("strategy", "auto", distribution.STRATEGIES,
                    "auto: multi-worker if TF_CONFIG names several workers, mirrored if several "
                    "GPUs, else one device.")
  flags.DEFINE_integer("num_gpus", 0, "GPUs to mirror over (0: all visible).")
  flags.DEFINE_integer("cpu_replicas", 0, "Mirror over this many logical CPU devices (testing).")
  flags.DEFINE_bool("sync_batch_norm", True, "Batch statistics over the global batch when "
                    "replicated, so results do not depend on the replica count.")
  flags.DEFINE_bool("jit_compile", TrainConfig.jit_compile, "Compile the train step with XLA.")
  flags.DEFINE_enum("mixed_precision", defaults.DEFAULT_MIXED_PRECISION,
                    MIXED_PRECISION_POLICIES, MIXED_PRECISION_HELP)
  flags.DEFINE_bool("fused_batch_norm", TrainConfig.fused_batch_norm, "Train the ResNet's batch "
                    "norm with TensorFlow's fused kernel (same variables and statistics as "
                    "Keras's layer; not used for synchronized batch norm over several replicas).")
  flags.DEFINE_integer("steps_per_execution", TrainConfig.steps_per_execution,
                       "Train steps per host round-trip (lowered to divide the epoch and the "
                       "remaining steps, so the step budget stays exact).")
  flags.DEFINE_integer("intra_op_threads", TrainConfig.intra_op_threads,
                       "Threads inside one TensorFlow op (0: TensorFlow's default).")
  flags.DEFINE_integer("inter_op_threads", TrainConfig.inter_op_threads,
                       "TensorFlow ops run at once (0: TensorFlow's default).")
  flags.DEFINE_float("cifarnet_fc_weight_decay", 0.0, "L2 rate on the inception (cifarnet) "
                     "fully connected layers; the original declared 0.004 but never added it "
                     "to the loss (0).")
  flags.DEFINE_enum("augmentation", TrainConfig.augmentation, defaults.AUGMENTATIONS,
                    "Training-image augmentation: crop_flip (the original's pad, random crop "
                    "and flip); flip and none only for reduced regimes.")
  flags.DEFINE_list("learning_rate_boundaries", [], "Global steps where the learning rate drops "
                    "10x, for every curriculum (default: the original's schedules).")
  flags.DEFINE_integer("random_seed", 0, "Seed of initialization, data order and dropout.")
  flags.DEFINE_integer("verbose", 1, "Keras progress output: 0 silent, 1 bar, 2 one line/epoch.")


def define_master_flag():
  """--master, the TF1 session target of the original training and eval scripts."""
  flags.DEFINE_string("master", None, "TF1 session target. TF2 ignores it: distribute with "
                      "--strategy and TF_CONFIG instead.")


def note_unused_master():
  if FLAGS.master:
    logging.warning("--master=%s is a TF1 session target and is not used; TF2 distributes "
                    "with --strategy and TF_CONFIG.", FLAGS.master)
    print(f"note: --master={FLAGS.master} is ignored (TF1 session target); use --strategy and "
          "TF_CONFIG to distribute.", flush=True)


def define_mentornet_flags():
  flags.DEFINE_string("trained_mentornet_dir", "",
                      "Directory of the trained MentorNet (a SavedModel).")
  flags.DEFINE_float("loss_p_percentile", defaults.ORIGINAL_LOSS_P_PERCENTILE,
                     "p-percentile of the batch losses used to "
                     "compute the loss moving average, in (0, 1].")
  flags.DEFINE_alias("loss_p_precentile", "loss_p_percentile")  # The original commands' typo.
  flags.DEFINE_integer("burn_in_epoch", 0, "Epochs (percent of training) of burn-in, during "
                       "which every example weighs 1.")
  flags.DEFINE_bool("fixed_epoch_after_burn_in", False, "Feed the MentorNet the fixed epoch "
                    "after burn-in (MentorNet DD).")
  flags.DEFINE_float("loss_moving_average_decay",
                     defaults.ORIGINAL_LOSS_MOVING_AVERAGE_DECAY,
                     "Decay of the loss moving average.")
  flags.DEFINE_list("example_dropout_rates", defaults.ORIGINAL_EXAMPLE_DROPOUT_RATES,
                    "[dropout rate, epoch count]+ over the 100 epochs; counts sum to 100.")


def apply_device_id():
  """Restricts visible GPUs to --device_id (before TensorFlow touches a GPU).

  An explicit --device_id wins over an inherited CUDA_VISIBLE_DEVICES (noted when it differs);
  an empty one keeps the environment's. Raises `UsageError` unless it is GPU ids '0,1,...'.
  """
  device_id = FLAGS.device_id.replace(" ", "")
  if not device_id:
    return
  if not all(item.isdigit() for item in device_id.split(",")):
    raise UsageError(f"--device_id={FLAGS.device_id!r} is not a comma-separated list of GPU ids")
  inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
  if inherited is not None and inherited != device_id:
    print(f"note: --device_id={device_id} replaces CUDA_VISIBLE_DEVICES={inherited}", flush=True)
  os.environ["CUDA_VISIBLE_DEVICES"] = device_id


def apply_thread_flags():
  """Sizes TensorFlow's thread pools from the flags; call before the runtime starts."""
  for name in ("intra_op_threads", "inter_op_threads", "steps_per_execution"):
    minimum = 1 if name == "steps_per_execution" else 0
    if FLAGS[name].value < minimum:
      raise UsageError(f"--{name} must be >= {minimum}, got {FLAGS[name].value}")
  distribution.set_op_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)


def validate_data_flags(split="train"):
  datasets.get_dataset_info(FLAGS.dataset_name)
  studentnets.get_studentnet_spec(FLAGS.studentnet)
  if not FLAGS.data_dir:
    raise UsageError("--data_dir is required")
  records.list_record_files(FLAGS.data_dir, FLAGS.dataset_name, split)
  if FLAGS.batch_size <= 0:
    raise UsageError(f"--batch_size must be positive, got {FLAGS.batch_size}")
  if FLAGS.num_residual_units < 1:
    raise UsageError(f"--num_residual_units must be >= 1, got {FLAGS.num_residual_units}")
  studentnets.parse_widths(FLAGS.resnet_widths)


def validate_cluster_flags():
  """Explains the TF1 cluster flags: refuses what TF2 cannot honour, notes what it ignores."""
  if FLAGS.ps_tasks:
    raise UsageError(f"--ps_tasks={FLAGS.ps_tasks}: parameter-server training was TF1-only; "
                     "run one process per machine with TF_CONFIG set (MultiWorkerMirrored)")
  cluster = distribution.cluster_spec_from_env()
  if cluster:
    index = int(cluster.get("task", {}).get("index", 0))
    if FLAGS.task not in (0, index):
      raise UsageError(f"--task={FLAGS.task} disagrees with TF_CONFIG's task index {index}")
  elif FLAGS.task:
    raise UsageError(f"--task={FLAGS.task} needs a cluster: set TF_CONFIG (its task index "
                     "replaces --task)")
  note_unused_master()


def train_config_from_flags(curriculum, curriculum_settings=None):
  """Validates the training flags and returns a `TrainConfig` (nothing is written)."""
  validate_data_flags("train")
  validate_cluster_flags()
  if not FLAGS.train_log_dir:
    raise UsageError("--train_log_dir is required")
  if os.path.exists(FLAGS.train_log_dir) and not os.path.isdir(FLAGS.train_log_dir):
    raise UsageError(f"--train_log_dir={FLAGS.train_log_dir} exists and is not a directory")
  if FLAGS.max_number_of_steps <= 0:
    raise UsageError(f"--max_number_of_steps must be positive, got {FLAGS.max_number_of_steps}")
  if FLAGS.learning_rate <= 0:
    raise UsageError(f"--learning_rate must be positive, got {FLAGS.learning_rate}")
  try:
    boundaries = tuple(int(b) for b in FLAGS.learning_rate_boundaries)
  except ValueError:
    raise UsageError(f"--learning_rate_boundaries={','.join(FLAGS.learning_rate_boundaries)} "
                     "is not a list of integers")
  if list(boundaries) != sorted(set(boundaries)) or any(b <= 0 for b in boundaries):
    raise UsageError("--learning_rate_boundaries must be increasing positive steps")
  if FLAGS.cifarnet_fc_weight_decay < 0:
    raise UsageError(f"--cifarnet_fc_weight_decay must be >= 0, got "
                     f"{FLAGS.cifarnet_fc_weight_decay:g}")
  for name in ("num_gpus", "cpu_replicas"):
    if FLAGS[name].value < 0:
      raise UsageError(f"--{name} must be >= 0, got {FLAGS[name].value}")
  if FLAGS.num_epochs_per_decay <= 0:
    raise UsageError(f"--num_epochs_per_decay must be positive, got {FLAGS.num_epochs_per_decay}")
  return TrainConfig(
      train_log_dir=FLAGS.train_log_dir, data_dir=FLAGS.data_dir,
      dataset_name=FLAGS.dataset_name, studentnet=FLAGS.studentnet, curriculum=curriculum,
      batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
      learning_rate_decay_factor=FLAGS.learning_rate_decay_factor,
      num_epochs_per_decay=FLAGS.num_epochs_per_decay,
      max_number_of_steps=FLAGS.max_number_of_steps,
      save_summaries_secs=FLAGS.save_summaries_secs,
      save_interval_secs=FLAGS.save_interval_secs,
      num_residual_units=FLAGS.num_residual_units,
      resnet_widths=studentnets.parse_widths(FLAGS.resnet_widths),
      random_seed=FLAGS.random_seed, learning_rate_boundaries=boundaries or None,
      jit_compile=FLAGS.jit_compile, steps_per_execution=FLAGS.steps_per_execution,
      intra_op_threads=FLAGS.intra_op_threads, inter_op_threads=FLAGS.inter_op_threads,
      mixed_precision=FLAGS.mixed_precision, fused_batch_norm=FLAGS.fused_batch_norm,
      strategy=FLAGS.strategy, num_gpus=FLAGS.num_gpus,
      cpu_replicas=FLAGS.cpu_replicas, sync_batch_norm=FLAGS.sync_batch_norm,
      cifarnet_fc_weight_decay=FLAGS.cifarnet_fc_weight_decay, augmentation=FLAGS.augmentation,
      verbose=FLAGS.verbose, curriculum_settings=curriculum_settings)


def check_mentornet_path(path):
  """`UsageError` unless --trained_mentornet_dir names a directory or a TF1 checkpoint prefix
  (what is in it is checked when it is loaded)."""
  if not os.path.isdir(path) and not os.path.exists(path + ".index"):
    raise UsageError(f"--trained_mentornet_dir={path} does not exist (neither a directory nor "
                     "a TF1 checkpoint prefix)")


def mentornet_settings_from_flags():
  """Validates the MentorNet hyper-parameter flags; returns kwargs of MentorNetCurriculum."""
  rates = curriculum_lib.validate_mentornet_settings(
      FLAGS.loss_p_percentile, FLAGS.loss_moving_average_decay, FLAGS.burn_in_epoch,
      FLAGS.example_dropout_rates)
  if not FLAGS.trained_mentornet_dir:
    raise UsageError("--trained_mentornet_dir is required")
  check_mentornet_path(FLAGS.trained_mentornet_dir)
  if FLAGS["loss_p_precentile"].present:
    print(f"warning: --loss_p_precentile={FLAGS.loss_p_percentile:g} is used here as "
          "--loss_p_percentile, but the original code never defined that spelling and ignored "
          "it (TF 1.8's tf.app.run drops unknown flags): its runs used p = "
          f"{defaults.ORIGINAL_LOSS_P_PERCENTILE:g}.", flush=True)
  return dict(loss_p_percentile=FLAGS.loss_p_percentile, burn_in_epoch=FLAGS.burn_in_epoch,
              fixed_epoch_after_burn_in=FLAGS.fixed_epoch_after_burn_in,
              loss_moving_average_decay=FLAGS.loss_moving_average_decay,
              example_dropout_rates=rates)


def define_data_parameters_flags(flag_values=FLAGS):
  """The data-parameters authors' flags (main_cifar.py names; defaults from
  `DataParametersSettings`, plus the clamp range)."""
  d, define = data_parameters.DataParametersSettings(), dict(flag_values=flag_values)
  flags.DEFINE_bool("learn_class_parameters", d.learn_class_parameters,
                    "Learn a temperature per class.", **define)
  flags.DEFINE_bool("learn_inst_parameters", d.learn_inst_parameters, "Learn a temperature per "
                    "training example (needs the example ids written by data_tools).", **define)
  for kind, what in (("class", "class parameters"), ("inst", "instance parameters")):
    flags.DEFINE_float(f"lr_{kind}_param", getattr(d, f"lr_{kind}_param"),
                       f"Learning rate of the {what}.", **define)
    flags.DEFINE_float(f"wd_{kind}_param", getattr(d, f"wd_{kind}_param"),
                       f"Weight decay (L2 on log sigma) of the {what}.", **define)
  flags.DEFINE_float("init_class_param", d.init_class_param, "Initial sigma of the class "
                     "parameters.", **define)
  flags.DEFINE_float("init_inst_param", d.init_inst_param, "Initial sigma of the instance "
                     "parameters (default: 1.0 alone, "
                     f"{data_parameters.JOINT_INIT_INST_PARAM:g} with class parameters, as the "
                     "paper).", **define)
  flags.DEFINE_bool("skip_clamp_data_param", d.skip_clamp_data_param, "Do not clamp sigma to "
                    "[clamp_*_sigma_min, clamp_*_sigma_max] after each update.", **define)
  for kind in ("class", "inst"):
    flags.DEFINE_float(f"clamp_{kind}_sigma_min", getattr(d, f"clamp_{kind}_sigma_min"),
                       f"Smallest {kind} sigma after an update (the authors' 1/20).", **define)
    flags.DEFINE_float(f"clamp_{kind}_sigma_max", getattr(d, f"clamp_{kind}_sigma_max"),
                       f"Largest {kind} sigma after an update (the authors' 20).", **define)


def data_parameters_settings_from_flags(flag_values=FLAGS):
  """Validated `DataParametersSettings` from the flags (raises `UsageError`)."""
  names = [field.name for field in dataclasses.fields(data_parameters.DataParametersSettings)]
  return data_parameters.DataParametersSettings(
      **{name: flag_values[name].value for name in names}).validate()
