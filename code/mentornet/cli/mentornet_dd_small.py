"""`mentornet-dd-small` (commands/train_mentornet_dd_small.sh): learns reproduce_small's
MentorNet DD from its own StudentNet (`mentornet.experiments.mentornet_dd_small`). Settings:
flags --name=value or environment variables NAME=value; OUTPUT_DIR and SCRATCH_DIR may also be
the two arguments.

  mentornet-dd-small --dry_run
"""
import sys

from mentornet.cli import settings as settings_lib
from mentornet.experiments import mentornet_dd_small
from mentornet.learning import pipelines

PROG = "mentornet-dd-small"
SETTINGS = ("OUTPUT_DIR", "SCRATCH_DIR", "CIFAR_SOURCE", "PYTHON", "DRY_RUN")


def usage():
  d = mentornet_dd_small.DDSmallConfig()
  return f"""\
Usage: {PROG} [--dry_run] [OUTPUT_DIR] [SCRATCH_DIR] [--name=value ...]

Learns the data-driven MentorNet of reproduce_small's reduced regime from that regime's own
StudentNet at noise {d.noise_fraction:g} (seed {d.seed}).
Every setting is a flag --name=value or an environment variable NAME=value:
  OUTPUT_DIR    the SavedModel [{mentornet_dd_small.default_output_dir(d, None)}]
  SCRATCH_DIR   data, StudentNet, dump, generated set [{d.scratch_dir}]
  CIFAR_SOURCE  the CIFAR-10 npz [{d.cifar_source}]
  PYTHON        the interpreter of the commands [{' '.join(d.python)}]
  DRY_RUN=1     print the steps, run nothing (also -n, --dry_run)
Paths are relative to the repository root, where the commands run.
"""


def config_from_settings(values):
  get, d = settings_lib.get, mentornet_dd_small.DDSmallConfig()
  return mentornet_dd_small.DDSmallConfig(
      output_dir=get(values, "OUTPUT_DIR", d.output_dir),
      scratch_dir=get(values, "SCRATCH_DIR", d.scratch_dir),
      cifar_source=get(values, "CIFAR_SOURCE", d.cifar_source),
      python=tuple(get(values, "PYTHON", " ".join(d.python)).split()))


def main(argv, env, root=None, out=None):
  """Parses `argv` over `env` and runs (or prints) the steps; returns the exit status."""
  values, help_asked = settings_lib.parse(argv, SETTINGS, env,
                                          positional=("OUTPUT_DIR", "SCRATCH_DIR"))
  if help_asked:
    print(usage(), end="", file=out or sys.stdout)
    return 0
  root = root or settings_lib.repo_root()
  steps = mentornet_dd_small.steps(config_from_settings(values), root)
  return pipelines.run_steps(steps, settings_lib.flag(values, "DRY_RUN"), cwd=root,
                             env=settings_lib.child_env(root, env), out=out)


def run_main():
  sys.exit(settings_lib.run(main, PROG))


if __name__ == "__main__":
  run_main()
