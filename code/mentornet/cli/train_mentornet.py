r"""Trains a MentorNet on a data set of data_generator.py (the original's flags).

  python code/training_mentornet/train.py --train_dir=runs/mentornet/mentornet_pd \
      --data_path=runs/data/mentornet_pd --max_step_train=3e4 --learning_rate=0.1

Adam (lr x0.9 every 1000 steps), gradient norm clipped at 5, mini-batches of 32; sigmoid
cross-entropy for 0/1 targets, squared error of sigmoid(v) otherwise. Prints the train and test
loss per epoch, checkpoints to --train_dir (a rerun resumes) and ends by writing the MentorNet
SavedModel and metrics.json to --export_dir (default --train_dir): pass that directory as
--trained_mentornet_dir to cifar_train_mentornet.py.
"""
import os

from absl import app
from absl import flags
from absl import logging

from mentornet import errors

FLAGS = flags.FLAGS


def define_flags():
  """Defines this entry point's flags (the original's names and defaults)."""
  flags.DEFINE_string("train_dir", "", "Training output directory (checkpoints, SavedModel).")
  flags.DEFINE_string("data_path", "", "Data set directory (tr.p, ts.p) from data_generator.py.")
  flags.DEFINE_integer("mini_batch_size", 32, "Training mini-batch size.")
  flags.DEFINE_float("max_step_train", 3e4, "Number of training steps.")
  flags.DEFINE_float("learning_rate", 0.1, "Starting learning rate.")
  flags.DEFINE_integer("seed", 0, "Seed of the initialization and the data order.")
  flags.DEFINE_string("export_dir", "", "Where to write the SavedModel and metrics.json "
                      "(default: --train_dir).")
  flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")


@errors.exit_on_usage_error
def main(argv):
  del argv  # Checked by exit_on_usage_error.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # TF's per-checkpoint INFO lines.
  if not FLAGS.train_dir:
    raise errors.UsageError("--train_dir is required (checkpoints and the SavedModel go there)")
  if not FLAGS.data_path:
    raise errors.UsageError("--data_path is required (a data set directory with tr.p and ts.p, "
                            "written by data_generator.py)")
  from mentornet.learning import fit
  fit.train_mentornet(
      FLAGS.train_dir, FLAGS.data_path, mini_batch_size=FLAGS.mini_batch_size,
      max_step_train=FLAGS.max_step_train, learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
      export_dir=FLAGS.export_dir or None, jit_compile=FLAGS.jit_compile,
      log=lambda line: print(line, flush=True))


def run_main():
  define_flags()
  app.run(main)
