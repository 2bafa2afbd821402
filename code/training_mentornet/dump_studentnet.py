"""Dumps a StudentNet's per-example losses: the input of a data-driven MentorNet.

The original entry point, with its flags: `mentornet-dump-studentnet` from this checkout.
What it does and its flags: `mentornet.cli.dump_studentnet` (docs/flags.md).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import dump_studentnet

if __name__ == "__main__":
  dump_studentnet.run_main()
