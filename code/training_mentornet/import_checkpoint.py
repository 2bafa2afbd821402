"""Converts an original (TF1) MentorNet checkpoint into a TF2 MentorNet SavedModel.

The original entry point, with its flags: `mentornet-import-checkpoint` from this checkout.
What it does and its flags: `mentornet.cli.import_mentornet_checkpoint` (docs/flags.md).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import import_mentornet_checkpoint

if __name__ == "__main__":
  import_mentornet_checkpoint.run_main()
