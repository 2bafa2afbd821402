"""`mentornet-learn-shipped` (commands/training_mentornet_command.sh): learns the shipped
MentorNets again (`mentornet.learning.pipelines`). Settings: flags --name=value or environment
variables NAME=value; OUTPUT_ROOT and SCRATCH_DIR may also be the two arguments.

  mentornet-learn-shipped --models=mentornet_pd,dd --dry_run
"""
import sys

from mentornet.cli import settings as settings_lib
from mentornet.errors import UsageError
from mentornet.learning import pipelines

PROG = "mentornet-learn-shipped"
SETTINGS = ("OUTPUT_ROOT", "SCRATCH_DIR", "MODELS", "DD_FROM_CSV", "DUMP_CSV", "CIFAR_SOURCE",
            "PYTHON", "DRY_RUN")


def usage():
  d = pipelines.ShippedConfig()
  return f"""\
Usage: {PROG} [--dry_run] [OUTPUT_ROOT] [SCRATCH_DIR] [--name=value ...]

Learns the shipped MentorNets: six predefined curricula from data_generator.py grids, and
MentorNet DD from the dump of a small ResNet StudentNet trained on noisy CIFAR-10.
Every setting is a flag --name=value or an environment variable NAME=value:
  OUTPUT_ROOT   where the SavedModels (+ metrics.json) go [{d.output_root}]
  SCRATCH_DIR   generated data sets, checkpoints, the StudentNet run [{d.scratch_dir}]
  MODELS        only these (dd = MentorNet DD) [{' '.join(d.models)}]
  DD_FROM_CSV=1 learn MentorNet DD from the dump DUMP_CSV as it is (skip the StudentNet)
  DUMP_CSV      the StudentNet dump [{d.dump_csv}]
  CIFAR_SOURCE  the CIFAR-10 source of make_noisy_data.py [{d.cifar_source}]
  PYTHON        the interpreter of the commands [{' '.join(d.python)}]
  DRY_RUN=1     print the commands, run nothing (also -n, --dry_run)
Paths are relative to the repository root, where the commands run.
"""


def config_from_settings(values):
  """The `ShippedConfig` of parsed settings; UsageError for an unknown model."""
  get, d = settings_lib.get, pipelines.ShippedConfig()
  models = settings_lib.words(get(values, "MODELS", " ".join(d.models)))
  unknown = [name for name in models if name not in pipelines.SHIPPED]
  if unknown:
    raise UsageError(f"unknown MODELS {' '.join(unknown)}; choose from "
                     f"{' '.join(pipelines.SHIPPED)}")
  return pipelines.ShippedConfig(
      models=models, output_root=get(values, "OUTPUT_ROOT", d.output_root),
      scratch_dir=get(values, "SCRATCH_DIR", d.scratch_dir),
      dump_csv=get(values, "DUMP_CSV", d.dump_csv),
      cifar_source=get(values, "CIFAR_SOURCE", d.cifar_source),
      from_csv=settings_lib.flag(values, "DD_FROM_CSV"),
      python=tuple(get(values, "PYTHON", " ".join(d.python)).split()))


def main(argv, env, root=None, out=None):
  """Parses `argv` over `env` and runs (or prints) the steps; returns the exit status."""
  values, help_asked = settings_lib.parse(argv, SETTINGS, env,
                                          positional=("OUTPUT_ROOT", "SCRATCH_DIR"))
  if help_asked:
    print(usage(), end="", file=out or sys.stdout)
    return 0
  config = config_from_settings(values)
  root = root or settings_lib.repo_root()
  return pipelines.run_steps(pipelines.shipped_steps(config), settings_lib.flag(values, "DRY_RUN"),
                             cwd=root, env=settings_lib.child_env(root, env), out=out)


def run_main():
  sys.exit(settings_lib.run(main, PROG))


if __name__ == "__main__":
  run_main()
