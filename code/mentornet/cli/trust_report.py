"""`mentornet-trust-report` (code/trust_report.py): the per-example trust report of a trained
checkpoint (see `mentornet.analysis.trust_report`).

Training already writes `<train_log_dir>/trust_report.csv` when it ends; this re-runs it on
demand, e.g. for an older checkpoint. What the command line leaves out (data, model and
curriculum settings) comes from the run's train_config.json.
"""
import json
import os

from absl import app
from absl import flags
import tensorflow as tf

from mentornet.analysis import trust_report
from mentornet.cli import flags as flags_lib
from mentornet.config import train_config
from mentornet.curricula import factory as curriculum_factory
from mentornet.data import pipeline as data_lib
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error

FLAGS = flags.FLAGS
# Flags whose value comes from train_config.json unless given on the command line.
FROM_CONFIG = ("data_dir", "dataset_name", "studentnet", "num_residual_units", "resnet_widths",
               "batch_size")


def define_flags():
  flags_lib.define_data_and_model_flags()
  flags.DEFINE_string("train_log_dir", "", "Training directory: its latest checkpoint and its "
                      "train_config.json are used.")
  flags.DEFINE_string("checkpoint", "", "A checkpoint prefix (<dir>/ckpt-<step>) instead of the "
                      "latest one; its directory's train_config.json is read.")
  flags.DEFINE_string("trained_mentornet_dir", "", "MentorNet of a MentorNet run (default: the "
                      "one recorded in train_config.json).")
  flags.DEFINE_string("output_csv", "", "Output CSV (default: <train_log_dir>/trust_report.csv); "
                      "the JSON summary goes beside it.")


def resolve_checkpoint():
  """(checkpoint prefix, directory holding train_config.json)."""
  if FLAGS.checkpoint:
    if not tf.io.gfile.exists(FLAGS.checkpoint + ".index"):
      raise UsageError(f"--checkpoint={FLAGS.checkpoint} is not a checkpoint (no .index file)")
    return FLAGS.checkpoint, FLAGS.train_log_dir or os.path.dirname(FLAGS.checkpoint)
  if not FLAGS.train_log_dir:
    raise UsageError("--train_log_dir or --checkpoint is required")
  if not os.path.isdir(FLAGS.train_log_dir):
    raise UsageError(f"--train_log_dir={FLAGS.train_log_dir} does not exist")
  latest = tf.train.latest_checkpoint(FLAGS.train_log_dir)
  if not latest:
    raise UsageError(f"--train_log_dir={FLAGS.train_log_dir} holds no checkpoint")
  return latest, FLAGS.train_log_dir


def config_from_flags(config_dir):
  """The run's `TrainConfig`: train_config.json overridden by the flags given."""
  record = train_config.read_train_config(config_dir)
  merged = train_config.merge_run_record(
      record, {name: FLAGS[name].value for name in FROM_CONFIG if FLAGS[name].present},
      {name: FLAGS[name].value for name in FROM_CONFIG})
  for name, value in merged.items():  # So the shared validation sees the effective values.
    FLAGS[name].value = ",".join(map(str, value)) if isinstance(value, list) else value
  flags_lib.validate_data_flags("train")
  return train_config.config_from_record(record, train_log_dir=record.get(
      "train_log_dir", config_dir), **merged)


@exit_on_usage_error
def main(argv):
  del argv
  flags_lib.apply_device_id()
  checkpoint, config_dir = resolve_checkpoint()
  config = config_from_flags(config_dir)
  make_curriculum = curriculum_factory.make_curriculum_factory(
      config.curriculum, config.curriculum_settings, FLAGS.trained_mentornet_dir or None)
  output_csv = FLAGS.output_csv or os.path.join(config_dir, trust_report.DEFAULT_CSV_NAME)
  model, split = trust_report.restore_model(config, checkpoint, make_curriculum)
  dataset = data_lib.make_dataset(split, config.dataset_name, config.batch_size, training=False,
                                  cache=False)
  summary = trust_report.write_trust_report(model, dataset, output_csv)
  print(trust_report.format_summary(summary))
  print(json.dumps(summary, indent=2, sort_keys=True))


def run_main():
  define_flags()
  app.run(main)
