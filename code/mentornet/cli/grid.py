"""`mentornet-grid` (commands/train_studentnet_{resnet,inception}.sh): the settings of
`mentornet.experiments.grid`, each a flag --name=value or an environment variable NAME=value.

  mentornet-grid --studentnet=resnet101 --num_gpus=8 --dry_run
"""
import sys

from mentornet.cli import settings as settings_lib
from mentornet.config import method_settings
from mentornet.experiments import grid

PROG = "mentornet-grid"
SETTINGS = ("STUDENTNET", "NUM_GPUS", "GPUS_PER_RUN", "MAX_PARALLEL", "DATASETS",
            "NOISE_FRACTIONS", "METHODS", "OUTPUT_ROOT", "DATA_ROOT", "MENTORNET_ROOT",
            "MAX_STEPS", "LOSS_P", "EXTRA_TRAIN_FLAGS", "EXTRA_EVAL_FLAGS", "EVAL_TIMEOUT_SECS",
            "EVAL_GRACE_SECS", "SKIP_EVAL", "PYTHON", "DRY_RUN")


def usage(studentnet):
  """The --help text, with `studentnet`'s defaults."""
  d, student = grid.GridConfig(), grid.studentnet_grid(studentnet)
  return f"""\
Usage: {PROG} [--dry_run] [--studentnet=NAME] [--num_gpus=N] [--methods=a,b] [--name=value]

Trains every StudentNet ({studentnet}) run of the method table
(mentornet.config.method_settings): datasets x noise fractions x methods, each with its eval
job on the clean validation set. Every setting is a flag --name=value or an environment
variable NAME=value:
  STUDENTNET         {', '.join(grid.STUDENTNETS)} [{d.studentnet}]
  NUM_GPUS           GPUs on this machine; runs are placed round-robin via --device_id
                     [{d.num_gpus}]
  GPUS_PER_RUN       2: train on one GPU, its eval job on the next; 1: both on one GPU
                     [{student.gpus_per_run}]
  MAX_PARALLEL       runs (training + eval job) at a time, 0 = all at once
                     [NUM_GPUS / GPUS_PER_RUN, at least 1]
  DATASETS           [{' '.join(d.datasets)}]
  NOISE_FRACTIONS    [{' '.join(d.noise_fractions)}]; also human-noise directories such as
                     human_worse_label (data_tools/make_noisy_data.py --noise_type=human)
  METHODS            [{' '.join(d.methods)}]
                     table rows: {' '.join(method_settings.ALL_METHODS)}
  LOSS_P             effective: p = 0.7 for every method, what the original ran (its code
                     ignored the commands' misspelled --loss_p_precentile); written: the
                     values written there (0.75, 0.6, 0.5, ...); clean_share: 1 - noise
                     [{d.loss_p}]
  OUTPUT_ROOT        runs go to OUTPUT_ROOT/<dataset>/{studentnet}/<noise>/<method>/
                     {{train,eval_val}} [{d.output_root}]
  DATA_ROOT          TFRecords in DATA_ROOT/<dataset>/<noise> and DATA_ROOT/<dataset>/val
                     [{d.data_root}]
  MENTORNET_ROOT     trained MentorNets [{d.mentornet_root}]
  MAX_STEPS          --max_number_of_steps [{student.max_steps}]
  EXTRA_TRAIN_FLAGS  more flags for every training command, e.g. "--batch_size=64"
  EXTRA_EVAL_FLAGS   more flags for every eval command
  EVAL_TIMEOUT_SECS  --eval_timeout_secs of cifar_eval.py; empty: not passed
                     [{d.eval_timeout_secs}]
  EVAL_GRACE_SECS    once training has ended, its eval job gets this long to finish
                     [{d.eval_grace_secs}]
  SKIP_EVAL=1        launch no eval jobs
  PYTHON             the interpreter of the commands [{' '.join(d.python)}]
  DRY_RUN=1          print the commands (one a line), run nothing (also -n, --dry_run)
Lists take spaces or commas. Relative paths are relative to the repository root, where the
commands run. Logs: <run>/train.log and <run>/eval.log.
"""


def config_from_settings(values):
  """The `GridConfig` of parsed settings ({NAME: str or None}); UsageError for a bad one."""
  get, d = settings_lib.get, grid.GridConfig()
  timeout = values.get("EVAL_TIMEOUT_SECS")
  if timeout is None:
    timeout = d.eval_timeout_secs
  elif timeout != "":
    timeout = settings_lib.integer(values, "EVAL_TIMEOUT_SECS", None)
  optional = {name: None if get(values, name) is None else settings_lib.integer(values, name, 0)
              for name in ("GPUS_PER_RUN", "MAX_PARALLEL", "MAX_STEPS")}
  return grid.GridConfig(
      studentnet=get(values, "STUDENTNET", d.studentnet),
      num_gpus=settings_lib.integer(values, "NUM_GPUS", d.num_gpus, minimum=1),
      gpus_per_run=optional["GPUS_PER_RUN"], max_parallel=optional["MAX_PARALLEL"],
      datasets=settings_lib.words(get(values, "DATASETS", " ".join(d.datasets))),
      noise_fractions=settings_lib.words(get(values, "NOISE_FRACTIONS",
                                             " ".join(d.noise_fractions))),
      methods=settings_lib.words(get(values, "METHODS", " ".join(d.methods))),
      loss_p=get(values, "LOSS_P", d.loss_p),
      output_root=get(values, "OUTPUT_ROOT", d.output_root),
      data_root=get(values, "DATA_ROOT", d.data_root),
      mentornet_root=get(values, "MENTORNET_ROOT", d.mentornet_root),
      max_steps=optional["MAX_STEPS"],
      extra_train_flags=tuple(get(values, "EXTRA_TRAIN_FLAGS", "").split()),
      extra_eval_flags=tuple(get(values, "EXTRA_EVAL_FLAGS", "").split()),
      eval_timeout_secs=None if timeout == "" else timeout,
      eval_grace_secs=settings_lib.integer(values, "EVAL_GRACE_SECS", d.eval_grace_secs),
      skip_eval=settings_lib.flag(values, "SKIP_EVAL"),
      python=tuple(get(values, "PYTHON", " ".join(d.python)).split()),
      dry_run=settings_lib.flag(values, "DRY_RUN"))


def main(argv, env, root=None, out=None, err=None):
  """Parses `argv` over `env` and runs (or prints) the grid; returns the exit status."""
  values, help_asked = settings_lib.parse(argv, SETTINGS, env)
  if help_asked:
    studentnet = settings_lib.get(values, "STUDENTNET", grid.GridConfig.studentnet)
    print(usage(studentnet), end="", file=out or sys.stdout)
    return 0
  root = root or settings_lib.repo_root()
  return grid.run_grid(config_from_settings(values), root, settings_lib.child_env(root, env),
                       out, err)


def run_main():
  sys.exit(settings_lib.run(main, PROG))


if __name__ == "__main__":
  run_main()
