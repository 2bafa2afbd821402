"""Converts an original (TF1) MentorNet checkpoint into a TF2 MentorNet SavedModel.

  python code/training_mentornet/import_checkpoint.py \
      --checkpoint=mentornet_models/models/mentornet_pd1_g_1/mentornet_pd \
      --export_dir=mentornet_models/tf2/mentornet_pd

--checkpoint is a checkpoint prefix or a directory (its latest checkpoint is used). The result
loads with `mentornet.models.mentornet_net.load_mentornet` / `--trained_mentornet_dir` and gives the
original's weights exactly. (`--trained_mentornet_dir` also takes the TF1 checkpoint itself and
imports it on the fly each run; converting once avoids that.)
"""
from absl import app
from absl import flags

from mentornet import errors
from mentornet.models import mentornet_net

FLAGS = flags.FLAGS


def define_flags():
  """Defines this entry point's flags (the original's names and defaults)."""
  flags.DEFINE_string("checkpoint", None,
                      "Original TF1 MentorNet checkpoint: a prefix, or a directory (latest one).")
  flags.DEFINE_string("export_dir", None, "Directory to write the MentorNet SavedModel to.")


@errors.exit_on_usage_error
def main(argv):
  del argv  # Checked by exit_on_usage_error.
  if not FLAGS.checkpoint:
    raise errors.UsageError(
        "--checkpoint is required (a TF1 MentorNet checkpoint or its directory)")
  if not FLAGS.export_dir:
    raise errors.UsageError("--export_dir is required (where to write the SavedModel)")
  mentornet_net.import_tf1_checkpoint(FLAGS.checkpoint, FLAGS.export_dir)
  print(f"Wrote the MentorNet SavedModel {FLAGS.export_dir} (from {FLAGS.checkpoint}).")


def run_main():
  define_flags()
  app.run(main)
