"""The command grid: every StudentNet run of the original README tables, each with its eval job.

The runs are datasets x noise fractions x methods, with each method's settings from the one
method table (`mentornet.config.method_settings`): a training command (code/cifar_train_baseline.py
without a MentorNet, code/cifar_train_mentornet.py with one) and an eval job (code/cifar_eval.py
on the clean validation set), run from the repository root. `GridConfig.max_parallel` runs go at
a time; run slot s trains on GPU 2s (GPUS_PER_RUN 2) and evaluates on the next one, or does both
on GPU s (GPUS_PER_RUN 1), modulo NUM_GPUS. Once training ends, its eval job gets
`eval_grace_secs` to see the last checkpoint and stop by itself (cifar_eval.py gives up after
--eval_timeout_secs without a new checkpoint); after that it is stopped. Logs: <run>/train.log and
<run>/eval.log. Running the grid again resumes every run from its train_log_dir.

A noise directory that is not a fraction (human noise, e.g. human_worse_label, built by
data_tools/make_noisy_data.py --noise_type=human) takes the settings of the fraction nearest the
realized_noise of its manifest.json. Standard library only.
"""
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Optional
from typing import Tuple

from mentornet.config import defaults
from mentornet.config import method_settings
from mentornet.errors import UsageError

DATASETS = ("cifar10", "cifar100")
NOISE_FRACTIONS = tuple(f"{noise:g}" for noise in method_settings.NOISE_FRACTIONS)
_FRACTION = re.compile(r"^[0-9]*\.?[0-9]+$")
# A word printed as is by `format_command`; any other is quoted.
_PLAIN_WORD = re.compile(r"^[][A-Za-z0-9_./:=,+@%-]+$")


@dataclasses.dataclass(frozen=True)
class StudentNetGrid:
  """The defaults of a StudentNet's grid, as the original commands ran it."""
  max_steps: int
  # 2: a run trains on one GPU and evaluates on the next; 1: both on one GPU.
  gpus_per_run: int
  train_flags: Tuple[str, ...] = ()  # added to every training command


STUDENTNETS = {
    # The default piecewise learning-rate schedule from 0.1.
    "resnet101": StudentNetGrid(defaults.ORIGINAL_RESNET_STEPS, 2),
    # A small model: training and its eval job share a GPU. Learning rate 0.1 decayed x0.1 every
    # 200 epochs (staircase).
    "inception": StudentNetGrid(120000, 1, ("--num_epochs_per_decay=200",
                                            "--learning_rate_decay_factor=0.1")),
}


@dataclasses.dataclass
class GridConfig:
  """Settings of a grid; None: the StudentNet's default (or, for max_parallel, num_gpus /
  gpus_per_run, at least 1). Paths are relative to the repository root."""
  studentnet: str = "resnet101"
  num_gpus: int = 1
  gpus_per_run: Optional[int] = None
  max_parallel: Optional[int] = None  # 0: every run at once
  datasets: Tuple[str, ...] = DATASETS
  noise_fractions: Tuple[str, ...] = NOISE_FRACTIONS  # directories of data_root/<dataset>/
  methods: Tuple[str, ...] = method_settings.ORIGINAL_METHODS
  loss_p: str = method_settings.DEFAULT_LOSS_P
  output_root: str = "cifar_models"
  data_root: str = "data"
  mentornet_root: str = method_settings.MENTORNET_MODELS_ROOT
  max_steps: Optional[int] = None
  extra_train_flags: Tuple[str, ...] = ()
  extra_eval_flags: Tuple[str, ...] = ()
  eval_timeout_secs: Optional[int] = 2700  # None: not passed
  eval_grace_secs: int = 1800
  skip_eval: bool = False
  python: Tuple[str, ...] = ("python",)
  dry_run: bool = False


def studentnet_grid(studentnet):
  """The `StudentNetGrid` of `studentnet`; UsageError for an unknown one."""
  if studentnet not in STUDENTNETS:
    raise UsageError(f"unknown studentnet {studentnet!r} ({', '.join(STUDENTNETS)})")
  return STUDENTNETS[studentnet]


def resolve(config):
  """`config` checked, with its StudentNet's defaults filled in; UsageError for a bad one."""
  student = studentnet_grid(config.studentnet)
  gpus_per_run = config.gpus_per_run or student.gpus_per_run
  max_parallel = config.max_parallel
  if max_parallel is None:
    max_parallel = max(1, config.num_gpus // gpus_per_run)
  if config.num_gpus < 1:
    raise UsageError(f"NUM_GPUS must be a positive integer, not '{config.num_gpus}'")
  if gpus_per_run not in (1, 2):
    raise UsageError("GPUS_PER_RUN must be 1 or 2")
  if max_parallel < 0:
    raise UsageError(f"MAX_PARALLEL must be an integer >= 0, not '{max_parallel}'")
  if config.loss_p not in method_settings.LOSS_P_MODES:
    raise UsageError(f"LOSS_P: invalid choice: {config.loss_p!r} (choose from "
                     f"{', '.join(method_settings.LOSS_P_MODES)})")
  for dataset in config.datasets:
    if dataset not in DATASETS:
      raise UsageError(f"unknown dataset {dataset!r} ({', '.join(DATASETS)})")
  for method in config.methods:
    if method not in method_settings.ALL_METHODS:
      raise UsageError(f"unknown method {method!r}; the table has: "
                       f"{' '.join(method_settings.ALL_METHODS)}")
  if not (config.datasets and config.noise_fractions and config.methods):
    raise UsageError("nothing to run")
  return dataclasses.replace(
      config, gpus_per_run=gpus_per_run, max_parallel=max_parallel,
      max_steps=student.max_steps if config.max_steps is None else config.max_steps)


def noise_levels(config, root):
  """{(dataset, noise directory): the table's noise fraction for its settings}: the fraction
  itself, or for another name the fraction nearest its manifest's realized_noise."""
  levels = {}
  for dataset in config.datasets:
    for noise in config.noise_fractions:
      if _FRACTION.match(noise):
        levels[dataset, noise] = float(noise)
        continue
      manifest = f"{config.data_root}/{dataset}/{noise}/manifest.json"
      try:
        with open(os.path.join(root, manifest), encoding="utf-8") as f:
          realized = json.load(f).get("realized_noise")
      except FileNotFoundError:
        raise UsageError(f"noise '{noise}' is not a fraction and {manifest} is missing; build it "
                         "with data_tools/make_noisy_data.py --noise_type=human") from None
      if not isinstance(realized, (int, float)):
        raise UsageError(f"{manifest} has no realized_noise")
      levels[dataset, noise] = method_settings.nearest_noise_fraction(realized)
  return levels


@dataclasses.dataclass(frozen=True)
class Run:
  """One run of the grid."""
  dataset: str
  noise: str
  method: str
  noise_fraction: float  # whose settings it takes

  def label(self):
    return f"{self.dataset} noise={self.noise} {self.method}"

  def run_dir(self, config):
    return f"{config.output_root}/{self.dataset}/{config.studentnet}/{self.noise}/{self.method}"


def runs(config, levels):
  """The runs of `config` in launch order: methods, then datasets, then noise."""
  return [Run(dataset, noise, method, levels[dataset, noise]) for method in config.methods
          for dataset in config.datasets for noise in config.noise_fractions]


def mentornet_dir(config, method):
  """The MentorNet of `method` (under config.mentornet_root), or None for the baseline."""
  mentornet = (method_settings.MENTORMIX_MENTORNET if method == "mentormix"
               else method_settings.get_method(method).mentornet)
  return None if mentornet is None else f"{config.mentornet_root}/{mentornet}"


def train_command(config, run, device):
  """The training command of `run` on GPU `device`."""
  settings = method_settings.method_run_settings(run.method, run.noise_fraction,
                                                 config.studentnet, config.loss_p)
  if settings["curriculum"] == "mentormix":
    reweight = "second_reweight" if settings["second_reweight"] else "nosecond_reweight"
    script = "code/cifar_train_mentornet.py"
    mentor_flags = ["--curriculum=mentormix",
                    f"--trained_mentornet_dir={mentornet_dir(config, run.method)}",
                    f"--mixup_alpha={settings['mixup_alpha']:g}", f"--{reweight}",
                    f"--loss_p_percentile={settings['loss_p_percentile']:g}",
                    f"--burn_in_epoch={settings['burn_in_epoch']}",
                    f"--example_dropout_rates={settings['example_dropout_rates']}",
                    "--mentormix_batch_norm_statistics="
                    f"{settings['batch_norm_statistics']}"]
  elif settings["curriculum"] == "baseline":
    script, mentor_flags = "code/cifar_train_baseline.py", []
  else:
    script = "code/cifar_train_mentornet.py"
    fixed = "fixed" if settings["fixed_epoch_after_burn_in"] else "nofixed"
    mentor_flags = [f"--trained_mentornet_dir={mentornet_dir(config, run.method)}",
                    f"--loss_p_percentile={settings['loss_p_percentile']:g}",
                    f"--{fixed}_epoch_after_burn_in",
                    f"--burn_in_epoch={settings['burn_in_epoch']}",
                    f"--example_dropout_rates={settings['example_dropout_rates']}"]
  return [*config.python, script, f"--dataset_name={run.dataset}", *mentor_flags,
          f"--data_dir={config.data_root}/{run.dataset}/{run.noise}",
          f"--train_log_dir={run.run_dir(config)}/train", f"--studentnet={config.studentnet}",
          *STUDENTNETS[config.studentnet].train_flags, f"--max_number_of_steps={config.max_steps}",
          f"--device_id={device}", *config.extra_train_flags]


def eval_command(config, run, device):
  """The eval job of `run` on GPU `device`: cifar_eval.py on the clean validation set."""
  run_dir = run.run_dir(config)
  timeout = ([] if config.eval_timeout_secs is None
             else [f"--eval_timeout_secs={config.eval_timeout_secs}"])
  return [*config.python, "code/cifar_eval.py", f"--dataset_name={run.dataset}",
          f"--data_dir={config.data_root}/{run.dataset}/val", f"--checkpoint_dir={run_dir}/train",
          f"--eval_dir={run_dir}/eval_val", f"--studentnet={config.studentnet}",
          f"--device_id={device}", f"--output_csv_file={run_dir}/eval_val/accuracy.csv",
          *timeout, *config.extra_eval_flags]


def devices(config, slot):
  """(training GPU, eval GPU) of run slot `slot`."""
  base = slot * config.gpus_per_run
  return base % config.num_gpus, (base + config.gpus_per_run - 1) % config.num_gpus


def format_command(argv):
  """A command on one line, quoting (for a POSIX shell) only the words that need it."""
  return " ".join(word if _PLAIN_WORD.match(word) else "'" + word.replace("'", "'\\''") + "'"
                  for word in argv)


def _placement(config, run, slot):
  train_device, eval_device = devices(config, slot)
  where = f"train on GPU {train_device}" + ("" if config.skip_eval
                                             else f", eval on GPU {eval_device}")
  return train_device, eval_device, where


def dry_run_lines(config, grid_runs, root):
  """What a dry run prints: a header, then a comment and the commands of each run."""
  total = len(grid_runs)
  lines = [f"# {config.studentnet}: {total} runs, NUM_GPUS={config.num_gpus} GPUS_PER_RUN="
           f"{config.gpus_per_run} MAX_PARALLEL={config.max_parallel}; run from {root}"]
  for i, run in enumerate(grid_runs):
    slot = i % config.max_parallel if config.max_parallel else i
    train_device, eval_device, where = _placement(config, run, slot)
    lines += [f"# [{i + 1}/{total}] {run.label()}: {where}",
              format_command(train_command(config, run, train_device))]
    if not config.skip_eval:
      lines.append(format_command(eval_command(config, run, eval_device)))
  return lines


class _Job:
  """A launched run: its training process and eval job, and their exit statuses."""

  def __init__(self, run, train, evaluation, grace_secs):
    self.run, self.train, self.evaluation = run, train, evaluation
    self.grace_secs = grace_secs
    self.train_status = self.eval_status = self.eval_deadline = None
    self.eval_stopped = self.done = False

  def poll(self):
    """Advances the run; True once it has ended (its eval job stopped or ended)."""
    if self.done:
      return True
    self.done = self._advance()
    return self.done

  def _advance(self):
    if self.train_status is None:
      self.train_status = self.train.poll()
      if self.train_status is None:
        return False
      grace = self.grace_secs if self.train_status == 0 else 0
      self.eval_deadline = time.monotonic() + grace
    if self.evaluation is None:
      return True
    if self.evaluation.poll() is None:
      if time.monotonic() < self.eval_deadline:
        return False
      self.evaluation.terminate()
      self.evaluation.wait()
      self.eval_stopped = True
    self.eval_status = _shell_status(self.evaluation.returncode)
    return True

  def failed(self):
    """Training failed, or its eval job failed other than by being stopped."""
    return self.train_status != 0 or (
        self.eval_status not in (None, 0, 128 + signal.SIGTERM) and not self.eval_stopped)

  def summary(self):
    eval_status = "-" if self.eval_status is None else self.eval_status
    return f"{_shell_status(self.train_status)} {eval_status} {self.run.label()}"

  def stop(self):
    for process in (self.train, self.evaluation):
      if process is not None and process.poll() is None:
        process.terminate()


def _shell_status(code):
  """An exit status as a shell shows it (128 + N for a process ended by signal N)."""
  return 128 - code if code is not None and code < 0 else code


def _now():
  return time.strftime("%Y-%m-%d %H:%M:%S")


def _raise_interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


class _Scheduler:
  """Launches the runs into `max_parallel` slots (0: each its own slot), lowest free first."""

  def __init__(self, config, root, env, out, err, poll_secs):
    self.config, self.root, self.env = config, root, env
    self.out, self.err, self.poll_secs = out, err, poll_secs
    self.slots, self.jobs = [], []

  def _poll(self):
    """Polls every run; True once all have ended."""
    ended = [job.poll() for job in self.jobs]  # every run, so that each grace period starts
    return all(ended)

  def _free_slot(self):
    while True:
      self._poll()
      limit = self.config.max_parallel
      if limit:
        for slot, job in enumerate(self.slots):
          if job.done:
            return slot
      if not limit or len(self.slots) < limit:
        self.slots.append(None)
        return len(self.slots) - 1
      time.sleep(self.poll_secs)

  def _popen(self, argv, log_path):
    with open(log_path, "w", encoding="utf-8") as log:
      return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                              env=self.env)

  def launch(self, i, total, run):
    config = self.config
    slot = self._free_slot()
    train_device, eval_device, where = _placement(config, run, slot)
    mentornet = mentornet_dir(config, run.method)
    data_dir = f"{config.data_root}/{run.dataset}/{run.noise}"
    for path in (mentornet, data_dir):
      if path and not os.path.exists(os.path.join(self.root, path)):
        print(f"warning: {path} does not exist", file=self.err, flush=True)
    run_dir = run.run_dir(config)
    print(f"[{i}/{total}] {_now()} start {run.label()}: {where}; logs in {run_dir}",
          file=self.out, flush=True)
    os.makedirs(os.path.join(self.root, run_dir), exist_ok=True)
    train = self._popen(train_command(config, run, train_device),
                        os.path.join(self.root, run_dir, "train.log"))
    evaluation = None
    if not config.skip_eval:
      evaluation = self._popen(eval_command(config, run, eval_device),
                               os.path.join(self.root, run_dir, "eval.log"))
    job = _Job(run, train, evaluation, config.eval_grace_secs)
    self.slots[slot] = job
    self.jobs.append(job)

  def wait_all(self):
    while not self._poll():
      time.sleep(self.poll_secs)

  def stop_all(self):
    for job in self.jobs:
      job.stop()
    for job in self.jobs:
      for process in (job.train, job.evaluation):
        if process is not None:
          process.wait()


def run_grid(config, root, env=None, out=None, err=None, poll_secs=0.5):
  """Runs (or with config.dry_run prints) the grid from the repository root `root`.

  Args:
    config: a GridConfig.
    root: the repository root, where the commands run.
    env: the environment of the commands (default os.environ).
    out, err: where progress and errors go (default stdout, stderr).
    poll_secs: how often the runs are polled.

  Returns:
    The exit status: 0, 1 (a run failed; they are listed on `err`) or 130 (interrupted).

  Raises:
    UsageError: a bad setting, or a human-noise directory without its manifest; before any
      command is printed or run.
  """
  out, err = out or sys.stdout, err or sys.stderr
  config = resolve(config)
  grid_runs = runs(config, noise_levels(config, root))
  if config.dry_run:
    print("\n".join(dry_run_lines(config, grid_runs, root)), file=out, flush=True)
    return 0
  scheduler = _Scheduler(config, root, os.environ if env is None else env, out, err, poll_secs)
  in_main_thread = threading.current_thread() is threading.main_thread()
  previous_term = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main_thread else None
  try:
    for i, run in enumerate(grid_runs, 1):
      scheduler.launch(i, len(grid_runs), run)
    scheduler.wait_all()
  except KeyboardInterrupt:
    print("interrupted, stopping the runs", file=err, flush=True)
    scheduler.stop_all()
    return 130
  finally:
    if in_main_thread:
      signal.signal(signal.SIGTERM, previous_term)
  print(f"{_now()} all {len(grid_runs)} runs ended; results: python commands/collect_results.py "
        f"--root={config.output_root}", file=out, flush=True)
  failed = [job.summary() for job in scheduler.jobs if job.failed()]
  if failed:
    print("failed runs (training exit status, eval exit status, run):", file=err, flush=True)
    print("\n".join(failed), file=err, flush=True)
    return 1
  return 0
