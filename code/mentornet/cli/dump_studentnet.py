r"""Dumps a StudentNet's per-example losses: the input of a data-driven MentorNet.

  python code/training_mentornet/dump_studentnet.py \
      --checkpoint_dir=runs/studentnet/cifar10_0.2/train --data_dir=runs/data/cifar10/0.2 \
      --output_csv=mentornet_models/studentnet_dump_csv/nl_0.2.csv \
      --checkpoint_steps=216 --subset_fraction=0.1 --seed=0

writes one line `id epoch noisy_label clean_label loss` per example of a seeded random subset
of the training split and per checkpoint (default: the latest one); loss is the cross-entropy
with the noisy label, without augmentation; epoch = floor(step / max_number_of_steps * 100).
The StudentNet settings come from the run's train_config.json (flags may restate them).
Then: data_generator.py --vstar_fn=data_driven --input_csv_filename=<the CSV>.
"""
import os

from absl import app
from absl import flags
from absl import logging

from mentornet import errors
from mentornet.cli import flags as flags_lib

FLAGS = flags.FLAGS


def define_flags():
  """Defines this entry point's flags (the original's names and defaults)."""
  flags.DEFINE_string("checkpoint_dir", "", "Training directory of cifar_train_*.py.")
  flags.DEFINE_string("data_dir", "", "TFRecords with clean labels and ids "
                      "(data_tools/make_noisy_data.py), e.g. data/cifar10/0.2.")
  flags.DEFINE_string("output_csv", "", "The dump CSV to write.")
  flags.DEFINE_alias("output_csv_file", "output_csv")  # The original cifar_eval.py's name.
  flags.DEFINE_list("checkpoint_steps", [], "Steps of the checkpoints to dump (default: latest).")
  flags.DEFINE_float("subset_fraction", 1.0, "Fraction of the training examples to dump.")
  flags.DEFINE_integer("max_examples", 0, "At most this many examples (0: no cap).")
  flags.DEFINE_integer("seed", 0, "Seed of the subset.")
  flags.DEFINE_integer("batch_size", 250, "Examples per inference batch.")
  flags.DEFINE_string("split_name", "train", "Split to dump (files <name>_<split>-*).")
  flags.DEFINE_enum("batch_norm_mode", "train", ["train", "inference"],
                    "train: batch norm with each batch's statistics, as the original's extraction "
                    "(the losses then depend on --batch_size); inference: moving averages.")
  flags.DEFINE_string("dataset_name", None, "Default: from train_config.json (else cifar10).")
  flags.DEFINE_string("studentnet", None, "Default: from train_config.json (else resnet101).")
  flags.DEFINE_integer("num_residual_units", None, "Default: from train_config.json.")
  flags.DEFINE_string("resnet_widths", None, "Default: from train_config.json.")
  flags.DEFINE_integer("max_number_of_steps", None, "Steps of the whole run, to date the "
                       "checkpoints (default: from train_config.json).")
  flags.DEFINE_string("device_id", "", "GPU id(s) to use (sets CUDA_VISIBLE_DEVICES); '' keeps "
                      "the environment's setting.")


def _parse_steps(items):
  steps = []
  for item in items:
    try:
      steps.append(int(item))
    except ValueError:
      raise errors.UsageError(f"--checkpoint_steps: {item!r} is not an integer step")
  return steps


@errors.exit_on_usage_error
def main(argv):
  del argv  # Checked by exit_on_usage_error.
  flags_lib.apply_device_id()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  for name in ("checkpoint_dir", "data_dir", "output_csv"):
    if not FLAGS[name].value:
      raise errors.UsageError(f"--{name} is required")
  steps = _parse_steps(FLAGS.checkpoint_steps)
  # TensorFlow only after the cheap checks.
  from mentornet.learning import studentnet_dump
  from mentornet.models import studentnets
  widths = (None if FLAGS.resnet_widths is None
            else studentnets.parse_widths(FLAGS.resnet_widths))
  log = lambda line: print(line, flush=True)
  settings = studentnet_dump.resolve_settings(
      FLAGS.checkpoint_dir, studentnet=FLAGS.studentnet, dataset_name=FLAGS.dataset_name,
      num_residual_units=FLAGS.num_residual_units, resnet_widths=widths,
      max_number_of_steps=FLAGS.max_number_of_steps, log=log)
  summary = studentnet_dump.dump_studentnet(
      FLAGS.checkpoint_dir, FLAGS.data_dir, FLAGS.output_csv, settings, checkpoint_steps=steps,
      subset_fraction=FLAGS.subset_fraction, max_examples=FLAGS.max_examples, seed=FLAGS.seed,
      batch_size=FLAGS.batch_size, split_name=FLAGS.split_name,
      batch_norm_mode=FLAGS.batch_norm_mode, log=log)
  print(f"Wrote {summary['rows']} rows ({summary['examples']} examples x epochs "
        f"{','.join(map(str, summary['epochs']))}) to {summary['output_csv']}", flush=True)


def run_main():
  define_flags()
  app.run(main)
