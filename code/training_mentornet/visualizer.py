"""Visualizes a learned MentorNet (the original's flags, plus --output_dir).

The original entry point, with its flags: `mentornet-visualize` from this checkout.
What it does and its flags: `mentornet.cli.visualize_mentornet` (docs/flags.md).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import visualize_mentornet

if __name__ == "__main__":
  visualize_mentornet.run_main()
