"""`mentornet-eval` (code/cifar_eval.py): evaluates a StudentNet's checkpoints on a clean split
as they appear, with the original flags.

When the run's train_config.json is in --checkpoint_dir, the StudentNet flags default to the
run's; a flag that contradicts it is an error. A wrong StudentNet or a corrupt data file stops
the job with one line before --eval_dir is created; a checkpoint deleted while being read is
skipped.
"""
import os

from absl import app
from absl import flags

from mentornet.analysis import evaluation
from mentornet.cli import flags as flags_lib
from mentornet.config import train_config
from mentornet.errors import UsageError
from mentornet.errors import exit_on_usage_error
from mentornet.models import studentnets

FLAGS = flags.FLAGS


def define_flags():
  flags_lib.define_data_and_model_flags(batch_size_default=25)
  flags_lib.define_master_flag()
  flags.DEFINE_string("checkpoint_dir", "", "Training directory to poll for checkpoints.")
  flags.DEFINE_string("eval_dir", "", "Directory for the evaluation summaries.")
  flags.DEFINE_integer("eval_interval_secs", 600, "Seconds between looks for a new checkpoint.")
  flags.DEFINE_string("split_name", "test", "Split to evaluate (files <name>_<split>-*).")
  flags.DEFINE_string("output_csv_file", "", "Append global_step,accuracy,loss rows here.")
  flags.DEFINE_bool("run_once", False, "Evaluate the latest checkpoint and exit.")
  flags.DEFINE_float("eval_timeout_secs", None, "Stop after this long without a new checkpoint "
                     "(default: wait forever, as the original).")


# Flags that default to the run's train_config.json.
RUN_FLAGS = ("studentnet", "dataset_name", "num_residual_units", "resnet_widths")


def apply_run_config(checkpoint_dir):
  """Sets the RUN_FLAGS not given to the run's values; raises UsageError on a contradiction."""
  record = train_config.read_train_config(checkpoint_dir) if os.path.isdir(checkpoint_dir) else {}
  merged = train_config.merge_run_record(
      record, {name: FLAGS[name].value for name in RUN_FLAGS if FLAGS[name].present},
      {name: FLAGS[name].value for name in RUN_FLAGS}, contradiction="error")
  for name, value in merged.items():
    FLAGS[name].value = ",".join(map(str, value)) if isinstance(value, list) else value


@exit_on_usage_error
def main(argv):
  del argv
  flags_lib.apply_device_id()
  flags_lib.note_unused_master()
  if not FLAGS.checkpoint_dir:
    raise UsageError("--checkpoint_dir is required")
  apply_run_config(FLAGS.checkpoint_dir)
  flags_lib.validate_data_flags(FLAGS.split_name)
  if FLAGS.run_once and not os.path.isdir(FLAGS.checkpoint_dir):
    raise UsageError(f"--checkpoint_dir={FLAGS.checkpoint_dir} does not exist")
  eval_dir = FLAGS.eval_dir or os.path.join(FLAGS.checkpoint_dir, "eval_" + FLAGS.split_name)
  evaluator = evaluation.CheckpointEvaluator(
      FLAGS.studentnet, FLAGS.dataset_name, FLAGS.data_dir, FLAGS.split_name, FLAGS.batch_size,
      studentnets.StudentNetConfig(num_residual_units=FLAGS.num_residual_units,
                                   resnet_widths=studentnets.parse_widths(FLAGS.resnet_widths),
                                   sync_batch_norm=False))
  evaluation.run_eval_job(evaluator, FLAGS.checkpoint_dir, eval_dir,
                          output_csv_file=FLAGS.output_csv_file or None,
                          eval_interval_secs=FLAGS.eval_interval_secs,
                          eval_timeout_secs=FLAGS.eval_timeout_secs, run_once=FLAGS.run_once)




def run_main():
  define_flags()
  app.run(main)
