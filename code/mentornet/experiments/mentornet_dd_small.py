"""The data-driven MentorNet of reproduce_small's reduced regime, learned from that regime's own
StudentNet (mentornet_models/models/small_nl_0.4_percentile_<P>/mentornet_dd).

The regime is `reproduce_small.SmallConfig()` (images a class, steps, widths, augmentation):
1. reproduce_small's data at noise 0.4 with seed 10 (another image subsample and other noise
   than the seeds the results are reported on), in-process (`reproduce_small.prepare_data`);
2. the regime's baseline StudentNet trained in stages on its noisy training split, a
   checkpoint at each dump step (`SmallConfig.dump_steps`), in float32 as the shipped
   small_nl_0.4_percentile_60 was learned (before bf16 became the default on CPUs that have it);
3. the dump of every noisy training example's loss at those checkpoints;
4. data_generator.py --vstar_fn=data_driven at percentile P = `SmallConfig.dd_percentile()`
   (100 x the DD method's loss percentile at noise 0.4: 60 with --loss_p=clean_share), and
   train.py with the shipped DD's settings.
"""
import dataclasses
import os
from typing import Optional
from typing import Tuple

from mentornet.config import method_settings
from mentornet.experiments import reproduce_small
from mentornet.learning import pipelines
from mentornet.models import studentnets


@dataclasses.dataclass
class DDSmallConfig:
  """Settings of the pipeline; paths are relative to the repository root."""
  output_dir: Optional[str] = None  # the SavedModel; None: small_nl_0.4_percentile_<P>/...
  scratch_dir: str = "runs/mentornet_dd_small"  # data, StudentNet, dump, generated set
  cifar_source: str = pipelines.CIFAR_SOURCE
  python: Tuple[str, ...] = ("python",)
  noise_fraction: float = 0.4
  seed: int = 10


def default_output_dir(config, regime=None):
  """Where the SavedModel goes unless `config.output_dir` says: small_nl_<noise>_percentile_<P>."""
  regime = regime or reproduce_small.SmallConfig()
  return (f"{method_settings.MENTORNET_MODELS_ROOT}/small_nl_{config.noise_fraction:g}_"
          f"percentile_{regime.dd_percentile(config.noise_fraction)}/mentornet_dd")


def steps(config, root="."):
  """The pipeline's steps; the data step runs in-process with paths under `root`."""
  regime = reproduce_small.SmallConfig(data=config.cifar_source)
  noise, seed, scratch, python = (config.noise_fraction, config.seed, config.scratch_dir,
                                  config.python)
  percentile = regime.dd_percentile(noise)
  output_dir = config.output_dir or default_output_dir(config, regime)
  data_root, student_dir = f"{scratch}/data", f"{scratch}/studentnet"
  dump_csv = f"{scratch}/small_nl_{noise:g}.csv"
  dump_at = regime.dump_steps()
  max_steps = regime.max_number_of_steps
  boundaries = ",".join(map(str, studentnets.scaled_resnet_boundaries(max_steps)))

  def prepare():
    data_config = dataclasses.replace(regime, data=os.path.join(root, config.cifar_source))
    reproduce_small.prepare_data(data_config, noise, seed, os.path.join(root, data_root))

  shown = (f"reproduce_small.prepare_data(SmallConfig(data={config.cifar_source!r}, "
           f"examples_per_class={regime.examples_per_class}, noise_type={regime.noise_type!r}, "
           f"val_fraction={regime.val_fraction:g}), noise_fraction={noise:g}, seed={seed}, "
           f"data_root={data_root!r})")
  return [
      pipelines.Step(call=prepare, text=shown),
      *pipelines.studentnet_stage_steps(dump_at, max_steps, lambda stage: (
          *python, "code/cifar_train_baseline.py", "--dataset_name=cifar10",
          f"--data_dir={data_root}/train", f"--train_log_dir={student_dir}",
          "--studentnet=resnet101", f"--num_residual_units={regime.num_residual_units}",
          f"--resnet_widths={','.join(map(str, regime.resnet_widths))}",
          f"--augmentation={regime.augmentation}", f"--batch_size={regime.batch_size}",
          "--mixed_precision=none", f"--learning_rate_boundaries={boundaries}",
          f"--max_number_of_steps={stage}", f"--random_seed={seed}")),
      pipelines.Step((*python, "code/training_mentornet/dump_studentnet.py",
                      f"--checkpoint_dir={student_dir}", f"--data_dir={data_root}/train",
                      f"--output_csv={dump_csv}",
                      f"--checkpoint_steps={','.join(map(str, dump_at))}",
                      f"--max_number_of_steps={max_steps}", f"--seed={seed}")),
      pipelines.Step((*python, "code/training_mentornet/data_generator.py",
                      "--vstar_fn=data_driven", f"--input_csv_filename={dump_csv}",
                      f"--percentiles={percentile}", f"--outdir={scratch}/dd_data",
                      f"--seed={seed}")),
      pipelines.Step((*python, "code/training_mentornet/train.py",
                      f"--train_dir={scratch}/dd_train",
                      f"--data_path={scratch}/dd_data/small_nl_{noise:g}_percentile_{percentile}",
                      f"--max_step_train={pipelines.MAX_STEP_TRAIN}",
                      f"--learning_rate={pipelines.LEARNING_RATE}", f"--seed={seed}",
                      f"--export_dir={output_dir}")),
  ]
