"""Training throughput: our steps against a plain Keras `fit`, and the speed levers.

Arms, each timed in rounds of `--steps` steps, alternating arm by arm so the machine's noise
hits all alike (the figures to read are ratios of median round times). A round is one `fit`
call; its clock runs from the start of its second execution to the start of its last, so it
leaves out what `fit` does once per call and no steady run pays: building the input iterator,
and deleting it as `fit` returns (in TF 2.21 that waits for tf.data's autotuning thread,
0.1-5 s). Every arm, the `keras_fit` peer included, is timed so:
- `keras_fit`: a plain `keras.Model.fit` of the same StudentNet (same initial weights,
  optimizer, batch and levers) on in-memory NumPy arrays;
- `baseline`, `mentornet`, `mentormix`: our `StudentTrainer` with `NoCurriculum` / a MentorNet /
  MentorMix (its second, mixed forward pass included), fed by the full training tf.data
  pipeline (TFRecords, decode cache, crop/flip, standardize);
- `dynamics`: the baseline accumulating the per-example training dynamics, as training runs
  (`training.dynamics`; the other arms of ours leave them out);
- `levers_off`: the baseline with every lever off (float32, no XLA, Keras's unfused batch
  norm, TensorFlow's default threads), run in a child process because threads are fixed per
  process;
- with `--lever_breakdown`, the baseline with one lever off at a time (`no_<lever>`).

  python benchmarks/benchmark_train_step.py --num_residual_units=1 \\
    --resnet_widths=16,32,64,128 --batch_size=128 --json=bench.json

The levers default to the training defaults (`train_config.TrainConfig`). Data: TFRecords
built from ../shared/data/cifar10_subset.npz when it exists, else the embedded MNIST sample.
"""
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "code"))
import keras

from mentornet.config.defaults import MIXED_PRECISION_HELP
from mentornet.config.defaults import MIXED_PRECISION_POLICIES
from mentornet.config.train_config import TrainConfig
from mentornet.config.train_config import keras_policy_name
from mentornet.training.precision import resolve_mixed_precision

flags.DEFINE_integer("batch_size", 128, "Images per step.")
flags.DEFINE_integer("num_residual_units", 1, "ResNet units per stage.")
flags.DEFINE_string("resnet_widths", "16,160,320,640", "ResNet widths.")
flags.DEFINE_string("studentnet", "resnet101", "StudentNet.")
flags.DEFINE_integer("steps", 20, "Steps per timed round (rounded up to a multiple of "
                     "--steps_per_execution).")
flags.DEFINE_integer("rounds", 5, "Timed rounds per arm (alternating).")
flags.DEFINE_bool("jit_compile", TrainConfig.jit_compile, "XLA-compile the train steps.")
flags.DEFINE_enum("mixed_precision", TrainConfig.mixed_precision,
                  MIXED_PRECISION_POLICIES, MIXED_PRECISION_HELP)
flags.DEFINE_bool("fused_batch_norm", TrainConfig.fused_batch_norm,
                  "Train batch norm with TensorFlow's fused kernel.")
flags.DEFINE_integer("intra_op_threads", TrainConfig.intra_op_threads, "0: TF default.")
flags.DEFINE_integer("inter_op_threads", TrainConfig.inter_op_threads, "0: TF default.")
flags.DEFINE_integer("steps_per_execution", TrainConfig.steps_per_execution,
                     "Steps per fit execution (our arms and keras_fit).")
flags.DEFINE_bool("lever_breakdown", True, "Also time the baseline with each lever off.")
flags.DEFINE_bool("mentornet_arm", True, "Time the MentorNet step.")
flags.DEFINE_bool("dynamics_arm", True, "Time the baseline step that also accumulates the "
                  "per-example training dynamics (training.dynamics, what runs train with).")
flags.DEFINE_bool("mentormix_arm", True, "Time the MentorMix step (official settings at 40% "
                  "noise: alpha 8, no second reweight).")
flags.DEFINE_string("mentornet_dir", "", "MentorNet SavedModel (default: a random one).")
flags.DEFINE_string("json", "", "Also write the figures here.")
flags.DEFINE_alias("output_json", "json")
flags.DEFINE_string("worker_data_dir", "", "Internal: serve the child-process arms.")
FLAGS = flags.FLAGS

SHARED_SUBSET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                             "data", "cifar10_subset.npz")


def _levers():
  """The levers under test: {name: (value when on, value when off)}."""
  return {
      "threads": ((FLAGS.intra_op_threads, FLAGS.inter_op_threads), (0, 0)),
      "xla": (FLAGS.jit_compile, False),
      "bf16": (resolve_mixed_precision(FLAGS.mixed_precision), "none"),
      "fused_batch_norm": (FLAGS.fused_batch_norm, False),
      "steps_per_execution": (FLAGS.steps_per_execution, 1),
  }


def _arms():
  """{arm: (kind, lever settings)}; settings hold the `_levers` names."""
  levers = _levers()
  on = {name: value[0] for name, value in levers.items()}
  off = {name: value[1] for name, value in levers.items()}
  arms = {"keras_fit": ("keras", on), "baseline": ("ours", on)}
  if FLAGS.dynamics_arm:
    arms["dynamics"] = ("dynamics", on)
  if FLAGS.mentornet_arm:
    arms["mentornet"] = ("mentornet", on)
  if FLAGS.mentormix_arm:
    arms["mentormix"] = ("mentormix", on)
  arms["levers_off"] = ("ours", off)
  if FLAGS.lever_breakdown:
    for name, (value_on, value_off) in levers.items():
      if value_on != value_off:
        arms[f"no_{name}"] = ("ours", dict(on, **{name: value_off}))
  return arms


def _build_data(scratch):
  """Writes the noisy TFRecords once; returns (data_dir, dataset_name)."""
  from mentornet.data import noisy_data_builder
  if os.path.exists(SHARED_SUBSET):
    name, source = "cifar10", SHARED_SUBSET
  else:
    name, source = "mnist", "embedded"
  noisy_data_builder.build_noisy_datasets(name, source, noise_fractions=[0.4],
                                          output_dir=scratch, log=lambda *_: None)
  return os.path.join(scratch, name, "0.4"), name


class Runner:
  """Builds and times the arms of one process (all share its thread settings)."""

  def __init__(self, arms, data_dir, dataset_name):
    import keras
    import numpy as np

    from mentornet.curricula import base as curriculum
    from mentornet.curricula import mentormix
    from mentornet.data import pipeline as data_lib
    from mentornet.models import mentornet_net
    from mentornet.models import studentnets
    from mentornet.training import trainer as trainer_lib
    spec = studentnets.get_studentnet_spec(FLAGS.studentnet)
    split = data_lib.describe_split(data_dir, dataset_name, "train")
    self.dataset = data_lib.make_dataset(split, dataset_name, FLAGS.batch_size, training=True,
                                         crop_padding=spec.train_crop_padding, seed=0)
    config = studentnets.StudentNetConfig(FLAGS.num_residual_units,
                                          studentnets.parse_widths(FLAGS.resnet_widths), False)
    # The peer's in-memory arrays: the same (unaugmented) images, one round of batches.
    images, labels = [], []
    plain = data_lib.make_dataset(split, dataset_name, FLAGS.batch_size, training=False,
                                  cache=False)
    most = max(settings["steps_per_execution"] for _, settings in arms.values())
    for features, label in plain.take(_round_steps(FLAGS.steps, most)[0]):
      images.append(features["image"].numpy())
      labels.append(label.numpy())
    self.images, self.labels = np.concatenate(images), np.concatenate(labels)
    mentornet = None
    if any(kind in ("mentornet", "mentormix") for kind, _ in arms.values()):
      mentornet_dir = FLAGS.mentornet_dir
      if not mentornet_dir:
        mentornet_dir = tempfile.mkdtemp(prefix="bench_mentornet_")
        mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=0), mentornet_dir)
      mentornet = mentornet_net.load_mentornet(mentornet_dir)
    rates = curriculum.parse_example_dropout_rates("0.5,17,0.05,78,1.0,5")
    self.models = {}
    for name, (kind, settings) in arms.items():
      keras.mixed_precision.set_global_policy(keras_policy_name(settings["bf16"]))
      keras.utils.set_random_seed(0)  # Same initial weights in every arm and process.
      student = studentnets.build_studentnet(
          FLAGS.studentnet, split.num_classes,
          dataclasses.replace(config, fused_batch_norm=settings["fused_batch_norm"]))
      optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
      if kind == "keras":
        model = student
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=settings["xla"],
                      steps_per_execution=settings["steps_per_execution"])
      else:
        if kind == "mentornet":
          made = curriculum.MentorNetCurriculum(mentornet, example_dropout_rates=rates)
        elif kind == "mentormix":
          made = mentormix.MentorMixCurriculum(
              mentornet, mentormix.MentorMixSettings(mixup_alpha=8.0, second_reweight=False))
        else:
          made = curriculum.NoCurriculum()
        model = trainer_lib.StudentTrainer(
            student, made, max_steps=39000,
            num_examples=split.num_examples if kind == "dynamics" else None)
        model.compile(optimizer=optimizer, jit_compile=settings["xla"],
                      steps_per_execution=settings["steps_per_execution"])
      self.models[name] = (kind, model)
      self.time_round(name, warm_up=True)  # Trace, compile, fill the decode cache.
    keras.mixed_precision.set_global_policy("float32")

  def time_round(self, name, warm_up=False):
    """Seconds per step of one round of arm `name`: `--steps` timed steps (one execution when
    `warm_up`) inside one `fit` call (see `_round_steps` and `_RoundClock`)."""
    kind, model = self.models[name]
    per_execution = model.steps_per_execution
    total, timed = _round_steps(per_execution if warm_up else FLAGS.steps, per_execution)
    clock = _RoundClock(per_execution, timed)
    if kind == "keras":
      count = total * FLAGS.batch_size
      model.fit(self.images[:count], self.labels[:count], batch_size=FLAGS.batch_size,
                epochs=1, verbose=0, callbacks=[clock])
    else:
      model.fit(self.dataset, epochs=1, steps_per_epoch=total, verbose=0, shuffle=False,
                callbacks=[clock])
    return clock.seconds / timed


def _round_steps(steps, per_execution):
  """(steps `fit` runs, steps timed) of a round of at least `steps` timed steps: a whole
  number of executions of `per_execution` steps, plus one untimed before and one after."""
  timed = per_execution * math.ceil(steps / per_execution)
  return timed + 2 * per_execution, timed


class _RoundClock(keras.callbacks.Callback):
  """Times `timed` steps of one `fit` call: from the start of its second execution of
  `per_execution` steps to the start of its last (an execution returns once its steps ran).

  Only `on_train_batch_begin` is defined, so Keras still dispatches the per-batch ends
  asynchronously, as without this callback. `seconds`: the timed wall time.
  """

  def __init__(self, per_execution, timed):
    super().__init__()
    self.first, self.last = per_execution, per_execution + timed  # `fit`'s step indices
    self.seconds = None
    self._start = None

  def on_train_batch_begin(self, batch, logs=None):
    del logs
    if batch == self.first:
      self._start = time.perf_counter()
    elif batch == self.last:
      self.seconds = time.perf_counter() - self._start


def _child_command(data_dir, dataset_name):
  argv = [a for a in sys.argv[1:] if not a.startswith(("--json", "--output_json"))]
  return [sys.executable, os.path.abspath(__file__), *argv,
          f"--worker_data_dir={data_dir}:{dataset_name}"]


def serve_child():
  """Child process: default threads; builds its arms, then times one round per stdin line."""
  data_dir, dataset_name = FLAGS.worker_data_dir.rsplit(":", 1)
  arms = {name: arm for name, arm in _arms().items() if arm[1]["threads"] == (0, 0)}
  runner = Runner(arms, data_dir, dataset_name)
  print("ready", flush=True)
  for line in sys.stdin:
    print(runner.time_round(line.strip()), flush=True)


def main(argv):
  del argv
  if FLAGS.worker_data_dir:
    serve_child()
    return
  from mentornet.training import distribution
  threads = (FLAGS.intra_op_threads, FLAGS.inter_op_threads)
  distribution.set_op_threads(*threads)
  data_dir, dataset_name = _build_data(tempfile.mkdtemp(prefix="bench_data_"))
  arms = _arms()
  child_arms = [name for name, arm in arms.items() if arm[1]["threads"] != threads]
  child = None
  if child_arms:
    child = subprocess.Popen(_child_command(data_dir, dataset_name), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    while child.stdout.readline().strip() != "ready":  # Builds while we wait (not timed).
      if child.poll() is not None:
        raise RuntimeError("the levers-off child process failed")
  runner = Runner({n: a for n, a in arms.items() if n not in child_arms}, data_dir,
                  dataset_name)
  seconds = {name: [] for name in arms}
  for _ in range(FLAGS.rounds):
    for name in arms:
      if name in child_arms:
        child.stdin.write(name + "\n")
        child.stdin.flush()
        seconds[name].append(float(child.stdout.readline()))
      else:
        seconds[name].append(runner.time_round(name))
  if child:
    child.stdin.close()
    child.wait()
  report(arms, seconds, dataset_name)


def cpu_name(cpuinfo_path="/proc/cpuinfo"):
  """The CPU the figures were measured on: its model name, cores and bf16 support."""
  model, cores, bf16 = "unknown CPU", os.cpu_count(), False
  try:
    with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith("model name") and model == "unknown CPU":
          model = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
          bf16 = bf16 or "avx512_bf16" in line.split() or "amx_bf16" in line.split()
  except OSError:
    pass
  return f"{model}, {cores} cores, {'with' if bf16 else 'no'} bf16 instructions"


def report(arms, seconds, dataset_name):
  """Prints images/s and ratios; writes them to --json."""
  import numpy as np
  batch = FLAGS.batch_size
  img_s = {name: batch / float(np.median(values)) for name, values in seconds.items()}
  figures = {f"{name}_img_s": value for name, value in img_s.items()}
  figures["baseline_vs_keras"] = img_s["baseline"] / img_s["keras_fit"]
  for arm in ("dynamics", "mentornet", "mentormix"):
    if arm in img_s:
      figures[f"{arm}_vs_baseline"] = img_s[arm] / img_s["baseline"]
  figures["speedup_vs_levers_off"] = img_s["baseline"] / img_s["levers_off"]
  # On a machine shared with other jobs a round runs at full speed or at a fraction (a core
  # taken); the fastest round of each arm compares the undisturbed speeds.
  best = {name: batch / float(np.min(values)) for name, values in seconds.items()}
  figures.update({f"{name}_best_img_s": value for name, value in best.items()})
  figures["best_baseline_vs_keras"] = best["baseline"] / best["keras_fit"]
  for arm in ("dynamics", "mentornet", "mentormix"):
    if arm in best:
      figures[f"best_{arm}_vs_baseline"] = best[arm] / best["baseline"]
  figures["best_speedup_vs_levers_off"] = best["baseline"] / best["levers_off"]
  for name in img_s:
    if name.startswith("no_"):
      figures[f"{name[3:]}_speedup"] = img_s["baseline"] / img_s[name]
  figures.update({
      "studentnet": f"{FLAGS.studentnet} units={FLAGS.num_residual_units} "
                    f"widths={FLAGS.resnet_widths}",
      "batch_size": batch, "dataset": dataset_name, "steps": FLAGS.steps,
      "rounds": FLAGS.rounds, "levers": {name: arm[1] for name, arm in arms.items()},
      "rounds_sec_per_step": seconds, "load_average": os.getloadavg(), "cpu": cpu_name(),
  })
  on = arms["baseline"][1]
  print(f"CPU: {figures['cpu']}")
  print(f"StudentNet {figures['studentnet']}, batch {batch}, {FLAGS.rounds} rounds x "
        f"{FLAGS.steps} steps; levers: {on}; load {os.getloadavg()[0]:.2f}")
  for name, value in img_s.items():
    print(f"  {name:<24} {value:8.1f} images/s (median round), {best[name]:8.1f} (fastest)")
  for name, value in figures.items():
    if name.endswith(("_vs_keras", "_vs_baseline", "_vs_levers_off", "_speedup")):
      print(f"  {name:<28} {value:8.3f}")
  if FLAGS.json:
    with open(FLAGS.json, "w", encoding="utf-8") as f:
      json.dump(figures, f, indent=2)


if __name__ == "__main__":
  app.run(main)
