"""Writes the per-example trust report of a trained checkpoint (see `mentornet.analysis.trust_report`).

Training already writes `<train_log_dir>/trust_report.csv` when it ends; this re-runs it on
demand, e.g. for an older checkpoint. What the command line leaves out (data, model and
curriculum settings) comes from `<train_log_dir>/train_config.json`. Example:
  python code/trust_report.py --train_log_dir=cifar_models/cifar10/resnet/0.4/mentornet_dd/train \
    --output_csv=/tmp/trust.csv
"""
import dataclasses
import json
import os

from absl import app
from absl import flags

from mentornet.cli import flags as flags_lib
from mentornet.models import studentnets
from mentornet.config import train_config
from mentornet.analysis import trust_report
from mentornet.curricula import factory as curriculum_factory
from mentornet.errors import UsageError, exit_on_usage_error

FLAGS = flags.FLAGS
flags_lib.define_data_and_model_flags()
flags.DEFINE_string("train_log_dir", "", "Training directory: its latest checkpoint and its "
                    "train_config.json are used.")
flags.DEFINE_string("checkpoint", "", "A checkpoint prefix (<dir>/ckpt-<step>) instead of the "
                    "latest one; its directory's train_config.json is read.")
flags.DEFINE_string("trained_mentornet_dir", "", "MentorNet of a MentorNet run (default: the "
                    "one recorded in train_config.json).")
flags.DEFINE_string("output_csv", "", "Output CSV (default: <train_log_dir>/trust_report.csv); "
                    "the JSON summary goes beside it.")

# Flags whose value comes from train_config.json unless given on the command line.
FROM_CONFIG = ("data_dir", "dataset_name", "studentnet", "num_residual_units", "resnet_widths",
               "batch_size")


def resolve_checkpoint():
  """(checkpoint prefix, directory holding train_config.json)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
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
  path = os.path.join(config_dir, train_config.CONFIG_FILE)
  record = {}
  if os.path.exists(path):
    try:
      with open(path, encoding="utf-8") as f:
        record = json.load(f)
    except (OSError, ValueError) as e:
      raise UsageError(f"cannot read {path}: {e}")
  for name in FROM_CONFIG:
    if FLAGS[name].present or name not in record:
      record[name] = FLAGS[name].value
  fields = {field.name for field in dataclasses.fields(train_config.TrainConfig)}
  record = {key: value for key, value in record.items() if key in fields}
  record["resnet_widths"] = studentnets.parse_widths(
      ",".join(map(str, record["resnet_widths"])) if isinstance(record["resnet_widths"], list)
      else record["resnet_widths"])
  record.setdefault("train_log_dir", config_dir)
  for name, flag in (("data_dir", "data_dir"), ("dataset_name", "dataset_name"),
                     ("studentnet", "studentnet"), ("batch_size", "batch_size"),
                     ("num_residual_units", "num_residual_units")):
    FLAGS[flag].value = record[name]  # So the shared validation sees the effective values.
  flags_lib.validate_data_flags("train")
  return train_config.TrainConfig(**record)


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
  from mentornet.data import pipeline as data  # pylint: disable=g-import-not-at-top
  dataset = data.make_dataset(split, config.dataset_name, config.batch_size, training=False,
                              cache=False)
  summary = trust_report.write_trust_report(model, dataset, output_csv)
  print(trust_report.format_summary(summary))
  print(json.dumps(summary, indent=2, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
