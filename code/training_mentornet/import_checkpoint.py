"""Converts an original (TF1) MentorNet checkpoint into a TF2 MentorNet SavedModel.

  python code/training_mentornet/import_checkpoint.py \
      --checkpoint=mentornet_models/models/mentornet_pd1_g_1/mentornet_pd \
      --export_dir=mentornet_models/tf2/mentornet_pd

--checkpoint is a checkpoint prefix or a directory (its latest checkpoint is used). The result
loads with `mentornet.models.mentornet_net.load_mentornet` / `--trained_mentornet_dir` and gives the
original's weights exactly. (`--trained_mentornet_dir` also takes the TF1 checkpoint itself and
imports it on the fly each run; converting once avoids that.)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import import_mentornet_checkpoint

if __name__ == "__main__":
  import_mentornet_checkpoint.run_main()
