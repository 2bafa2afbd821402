r"""Visualizes a learned MentorNet (the original's flags, plus --output_dir).

  python code/training_mentornet/visualizer.py \
      --model_dir=mentornet_models/models/mentornet_pd1_g_1/mentornet_pd --loss_bound=5 \
      --epoch_ranges=0,10,18,20,30,40,50,60,70,80,90,95,99 --output_dir=runs/plots/mentornet_pd

draws the weight v over (loss in [0, loss_bound], loss - moving average in [-loss_bound,
loss_bound]) for each epoch: <output_dir>/epoch_<t>.png and the animated <output_dir>/plot.gif.
--model_dir is a MentorNet SavedModel (train.py's --train_dir/--export_dir) or an original TF1
MentorNet checkpoint. --output_dir defaults to --model_dir, as the original wrote there.
"""
import os

from absl import app
from absl import flags
from absl import logging

from mentornet import errors

FLAGS = flags.FLAGS


def define_flags():
  """Defines this entry point's flags (the original's names and defaults)."""
  flags.DEFINE_string("model_dir", "", "The MentorNet to plot (SavedModel directory).")
  flags.DEFINE_float("loss_bound", 15, "The upper (and, for the loss difference, lower) bound "
                     "of the plotted inputs.")
  flags.DEFINE_list("epoch_ranges", "0,10,20,30,40,50,60,70,80,90,99",
                    "Comma-separated epochs (0..99) to plot.")
  flags.DEFINE_string("output_dir", "", "Where to write the PNGs and plot.gif (default: "
                      "--model_dir, or its parent for a checkpoint prefix).")


@errors.exit_on_usage_error
def main(argv):
  del argv  # Checked by exit_on_usage_error.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  if not FLAGS.model_dir:
    raise errors.UsageError("--model_dir is required (a MentorNet SavedModel directory)")
  # TensorFlow and matplotlib after the cheap checks.
  from mentornet.learning import visualize
  epochs = visualize.parse_epoch_ranges(FLAGS.epoch_ranges)
  if not FLAGS.loss_bound > 0:
    raise errors.UsageError(f"--loss_bound must be positive, got {FLAGS.loss_bound:g}")
  from mentornet.models import mentornet_net
  model = mentornet_net.load_mentornet(FLAGS.model_dir, flag_name="model_dir")
  output_dir = FLAGS.output_dir or (
      FLAGS.model_dir if os.path.isdir(FLAGS.model_dir) else os.path.dirname(FLAGS.model_dir))
  _, gif_path = visualize.visualize_mentornet(
      model, output_dir, loss_bound=FLAGS.loss_bound, epoch_ranges=epochs,
      log=lambda line: print(line, flush=True))
  print(f"Wrote {len(epochs)} frames and {gif_path}", flush=True)


def run_main():
  define_flags()
  app.run(main)
