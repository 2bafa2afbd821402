"""The recipes of the shipped MentorNets (mentornet_models/models/), as lists of steps.

`mentornet-learn-shipped` (commands/training_mentornet_command.sh) runs them: six predefined
curricula learned from data_generator.py grids, and MentorNet DD learned from the dump of a
small ResNet StudentNet trained on CIFAR-10 at noise 0.2. A step is a command of the original
entry points (code/training_mentornet/*.py, code/cifar_train_baseline.py,
data_tools/make_noisy_data.py) or a function run in-process; `run_steps` prints each as
`+ <step>` and runs it (or only prints it: a dry run).
"""
import dataclasses
import subprocess
import sys
import time
from typing import Callable
from typing import Optional
from typing import Tuple

from mentornet.config import method_settings
from mentornet.learning import generator

# A StudentNet dump holds the losses at these epochs (percent of training done).
DUMP_EPOCHS = (18, 40, 60, 80, 90, 99)
# train.py's settings of every shipped MentorNet (mentornet_pd's learning rate aside).
MAX_STEP_TRAIN = "3e4"
LEARNING_RATE = "0.1"
# The CIFAR-10 source (an npz) of the StudentNets of the MentorNet DD pipelines.
CIFAR_SOURCE = "../shared/data/cifar10_subset.npz"


def dump_steps(max_steps):
  """The checkpoint steps of a StudentNet dump: DUMP_EPOCHS of `max_steps` training steps."""
  return tuple(epoch * max_steps // 100 for epoch in DUMP_EPOCHS)


@dataclasses.dataclass(frozen=True)
class Step:
  """A command (`argv`) or an in-process function (`call`, shown as `text`)."""
  argv: Tuple[str, ...] = ()
  call: Optional[Callable[[], object]] = None
  text: str = ""

  def __str__(self):
    return self.text or " ".join(self.argv)


def run_steps(steps, dry_run=False, cwd=None, env=None, out=None):
  """Prints `+ <step>` and runs each step in turn, then its seconds; stops at a failed command.

  Returns:
    0, or the exit status of the command that failed.
  """
  out = out or sys.stdout
  for step in steps:
    print(f"+ {step}", file=out, flush=True)
    if dry_run:
      continue
    start = time.time()
    if step.call is not None:
      step.call()
    else:
      status = subprocess.call(list(step.argv), cwd=cwd, env=env)
      if status:
        return status
    print(f"  ({int(time.time() - start)} s)", file=out, flush=True)
  return 0


@dataclasses.dataclass(frozen=True)
class Predefined:
  """A predefined MentorNet: its row of the method table and its data_generator.py v*."""
  method: str  # row of mentornet.config.method_settings: where the SavedModel goes
  vstar_fn: str
  vstar_gamma: Optional[str] = None  # None: the function's own
  learning_rate: str = LEARNING_RATE
  seed: int = 0


PREDEFINED = {
    "baseline": Predefined("baseline_mentornet", "vstar_baseline"),
    "self_paced": Predefined("self_paced", "vstar_self_paced"),
    "spcl_linear": Predefined("spcl_linear", "vstar_spcl_linear", "1"),
    "hard_example_mining": Predefined("hard_example_mining", "vstar_hard_example_mining"),
    "focal_loss": Predefined("focal_loss", "vstar_focal_loss", "2"),
    "mentornet_pd": Predefined("mentornet_pd", "vstar_mentornet_pd", "1", learning_rate="0.03"),
}
# The MentorNets `mentornet-learn-shipped` learns by default: the predefined ones and DD.
SHIPPED = tuple(PREDEFINED) + ("dd",)


@dataclasses.dataclass(frozen=True)
class DDRecipe:
  """MentorNet DD: a StudentNet (ResNet, 1 unit a stage, widths 16,16,32,64) trained on CIFAR-10
  at `noise_fraction` for a nominal `student_steps`, in stages so that a checkpoint exists at
  each dump step; its losses on a seeded `subset_fraction` of the training examples make the
  dump, whose `percentile` data set trains the MentorNet."""
  noise_fraction: str = "0.2"
  percentile: int = 90
  student_steps: int = 1000
  subset_fraction: float = 0.2
  seed: int = 0

  @property
  def model_dir(self):
    return method_settings.get_method("mentornet_dd").mentornet


DD = DDRecipe()


def predefined_steps(name, output_root, scratch_dir, python=("python",)):
  """data_generator.py and train.py of the predefined MentorNet `name` (a key of PREDEFINED)."""
  recipe = PREDEFINED[name]
  data_dir = f"{scratch_dir}/data/{name}"
  gamma = () if recipe.vstar_gamma is None else (f"--vstar_gamma={recipe.vstar_gamma}",)
  model_dir = method_settings.get_method(recipe.method).mentornet
  return [
      Step((*python, "code/training_mentornet/data_generator.py", f"--outdir={data_dir}",
            f"--vstar_fn={recipe.vstar_fn}", *gamma,
            f"--sample_size={generator.DEFAULT_SAMPLE_SIZE}", f"--seed={recipe.seed}")),
      Step((*python, "code/training_mentornet/train.py", f"--train_dir={scratch_dir}/train/{name}",
            f"--data_path={data_dir}", f"--max_step_train={MAX_STEP_TRAIN}",
            f"--learning_rate={recipe.learning_rate}", f"--seed={recipe.seed}",
            f"--export_dir={output_root}/{model_dir}")),
  ]


def studentnet_stage_steps(dump_at, max_steps, train_argv):
  """cifar_train_baseline.py once per dump step, then up to `max_steps`; a stage resumes the
  last. `train_argv(steps)` is the command of a stage."""
  return [Step(train_argv(steps)) for steps in (*dump_at, max_steps)]


def dd_steps(output_root, scratch_dir, dump_csv, cifar_source, from_csv=False,
             python=("python",), recipe=DD):
  """The MentorNet DD pipeline; `from_csv`: learn from the existing dump `dump_csv`."""
  steps = []
  seed = recipe.seed
  if not from_csv:
    data_dir = f"{scratch_dir}/cifar_data/cifar10/{recipe.noise_fraction}"
    student_dir = f"{scratch_dir}/studentnet/cifar10_{recipe.noise_fraction}_resnet_small"
    dump_at = dump_steps(recipe.student_steps)
    steps.append(Step((*python, "data_tools/make_noisy_data.py", "--dataset_name=cifar10",
                       f"--source={cifar_source}", f"--noise_fractions={recipe.noise_fraction}",
                       f"--seed={seed}", f"--output_dir={scratch_dir}/cifar_data",
                       "--overwrite")))
    steps += studentnet_stage_steps(dump_at, recipe.student_steps, lambda stage: (
        *python, "code/cifar_train_baseline.py", "--dataset_name=cifar10",
        f"--data_dir={data_dir}", f"--train_log_dir={student_dir}", "--studentnet=resnet101",
        "--num_residual_units=1", "--resnet_widths=16,16,32,64", "--batch_size=128",
        f"--max_number_of_steps={stage}", f"--random_seed={seed}", "--verbose=2"))
    steps.append(Step((*python, "code/training_mentornet/dump_studentnet.py",
                       f"--checkpoint_dir={student_dir}", f"--data_dir={data_dir}",
                       f"--output_csv={dump_csv}",
                       f"--checkpoint_steps={','.join(map(str, dump_at))}",
                       f"--max_number_of_steps={recipe.student_steps}",
                       f"--subset_fraction={recipe.subset_fraction}", f"--seed={seed}")))
  csv_name = dump_csv.rsplit("/", 1)[-1].removesuffix(".csv")
  steps += [
      Step((*python, "code/training_mentornet/data_generator.py", "--vstar_fn=data_driven",
            f"--input_csv_filename={dump_csv}", f"--outdir={scratch_dir}/data/dd",
            f"--seed={seed}")),
      Step((*python, "code/training_mentornet/train.py", f"--train_dir={scratch_dir}/train/dd",
            f"--data_path={scratch_dir}/data/dd/{csv_name}_percentile_{recipe.percentile}",
            f"--max_step_train={MAX_STEP_TRAIN}", f"--learning_rate={LEARNING_RATE}",
            f"--seed={seed}", f"--export_dir={output_root}/{recipe.model_dir}")),
  ]
  return steps


@dataclasses.dataclass
class ShippedConfig:
  """Settings of `shipped_steps`; paths are relative to the repository root."""
  models: Tuple[str, ...] = SHIPPED  # names of SHIPPED (dd: MentorNet DD)
  output_root: str = method_settings.MENTORNET_MODELS_ROOT  # the SavedModels (+ metrics.json)
  scratch_dir: str = "runs/training_mentornet"  # data sets, checkpoints, the StudentNet run
  dump_csv: str = "mentornet_models/studentnet_dump_csv/nl_0.2.csv"  # DD's StudentNet dump
  cifar_source: str = CIFAR_SOURCE  # the CIFAR-10 source of make_noisy_data.py
  from_csv: bool = False  # learn MentorNet DD from dump_csv as it is (no StudentNet)
  python: Tuple[str, ...] = ("python",)


def shipped_steps(config):
  """Every step that learns `config.models`, in SHIPPED's order."""
  steps = []
  for name in PREDEFINED:
    if name in config.models:
      steps += predefined_steps(name, config.output_root, config.scratch_dir, config.python)
  if "dd" in config.models:
    steps += dd_steps(config.output_root, config.scratch_dir, config.dump_csv,
                      config.cifar_source, config.from_csv, config.python)
  return steps
