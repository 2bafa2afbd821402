"""Where our baseline train step spends its time: a TensorFlow profiler trace, by op type.

Builds the StudentNet, the baseline `StudentTrainer` step and its tf.data pipeline exactly as
the `baseline` arm of `benchmark_train_step.py` does (its flags, data and `Runner` are reused:
TFRecords from ../shared/data/cifar10_subset.npz when it exists, else the embedded MNIST
sample), runs the warm-up steps, then traces `--steps` steps with `tf.profiler.experimental`.
The trace is a TensorBoard profile: `tensorboard --logdir=<--logdir>` with the profile plugin
(`pip install tensorboard-plugin-profile`) shows it under Profile (trace viewer, op stats).

Without that plugin, the script reads the written `<logdir>/plugins/profile/<run>/*.xplane.pb`
itself (`tensorflow.tsl.profiler.protobuf.xplane_pb2`) and prints, per traced step:
- each TensorFlow op type (the kernel's type, e.g. `_MklNativeConv2D` on oneDNN builds; with
  --jit_compile the HLO instructions, `xla:<name>`, see `_op_type`): its self time in ms (time
  inside nested op events is credited to those only), its share of the step's total op time,
  and its count. Op events are those of the host plane whose metadata name reads
  `<op name>:<op type>` (on the executor's `tf_Compute` threads); ops run by tf.data (on its
  `tf_data_*` threads, or nested in an `Iterator::` / `MakeIterator` event) are the input
  pipeline's and reported apart;
- the same time grouped by the Keras layer class whose scope holds the op (forward and
  gradient), the optimizer, and the rest (loss, metrics, step bookkeeping);
- the input pipeline: the time the step waited for a batch (`IteratorGetNextOp::DoCompute`)
  and the op time of the tf.data map functions (which compete with the step for the cores);
- the wall-clock time per step (the `fit` call / steps, with the profiler on) and the traced
  train-function time per step. The difference is host time outside the step; in TF 2.21 most
  of it can be one `TFE_DeleteTensorHandle` as `fit` returns: deleting the input iterator,
  whose destructor waits for tf.data's autotuning thread (`Model::OptimizeLoop`), up to
  seconds per `fit` call (`longest_delete_tensor_handle_ms`, per trace, not per step).
Op times are summed over TensorFlow's threads, so with inter-op parallelism they can add up to
more than the wall time. The tables are of host (CPU) ops; on a GPU they show launch times.

  python benchmarks/profile_train_step.py --num_residual_units=1 \\
    --resnet_widths=16,32,64,128 --batch_size=128 --steps=10 --json=profile.json

`--json=PATH` writes {"ms_per_step", "train_function_ms_per_step", "op_ms_per_step",
"ops": [{"type", "ms_per_step", "share", "count_per_step"}, ...], "layers": [...],
"input": {...}, ...}; times in ms per traced step, shares in [0, 1].
"""
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark_train_step as bench

# The benchmark's flags (--studentnet, --num_residual_units, --resnet_widths, --batch_size,
# --mixed_precision, --jit_compile, --fused_batch_norm, --intra_op_threads, --inter_op_threads,
# --steps_per_execution, --steps, --json) are defined by the import; its arm flags are unused.
flags.DEFINE_integer("warmup_steps", 3, "Untraced steps after the 3 x steps_per_execution "
                     "steps that build (trace, compile) the step.")
flags.DEFINE_string("logdir", "", "Trace directory (default: a new temporary directory).")
flags.DEFINE_string("data", "", "'' as the benchmark (the shared CIFAR-10 subset, else "
                    "MNIST), 'embedded' (the MNIST sample), or a CIFAR-layout .npz.")
flags.DEFINE_integer("top", 20, "Op types printed (all go to --json).")
FLAGS = flags.FLAGS
FLAGS.set_default("steps", 10)

_OP_NAME = re.compile(r"[^:\s]+:([A-Za-z_][A-Za-z0-9_]*)")
_PS_PER_MS = 1e9


def _op_type(plane, event, hlo_stats):
  """The op type of a host event, or None when it is not an op.

  A TensorFlow op's event metadata name reads `<op name>:<op type>`; an XLA-compiled step's
  ops are HLO instructions (events with an `hlo_op` stat), typed `xla:<instruction name less
  its .N suffix>`, e.g. `xla:convolution`, `xla:add_convert_fusion`.
  """
  name = plane.event_metadata[event.metadata_id].name
  match = _OP_NAME.fullmatch(name)
  if match:
    return match.group(1)
  if any(stat.metadata_id in hlo_stats for stat in event.stats):
    return "xla:" + re.sub(r"\.\d+$", "", name)
  return None


def _is_input_context(name):
  return name.startswith(("Iterator::", "IteratorGetNextOp")) or "MakeIterator" in name


def line_ops(plane, line):
  """[(op type, op name, self time ps, is_input)] of one thread's events.

  Events on a thread nest; an op's self time is its duration less that of the op events
  nested in it, so nothing is counted twice.
  """
  input_line = line.name.startswith("tf_data")
  hlo_stats = {i for i, m in plane.stat_metadata.items() if m.name == "hlo_op"}
  events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
  stack, ops = [], []  # stack frames: [end ps, op index or None, is_input]
  for event in events:
    start, end = event.offset_ps, event.offset_ps + event.duration_ps
    while stack and stack[-1][0] <= start:
      stack.pop()
    metadata = plane.event_metadata[event.metadata_id]
    is_input = input_line or (stack and stack[-1][2]) or _is_input_context(metadata.name)
    op_type = _op_type(plane, event, hlo_stats)
    index = None
    if op_type is not None:
      parent = next((frame[1] for frame in reversed(stack) if frame[1] is not None), None)
      if parent is not None:
        ops[parent][2] -= min(event.duration_ps, stack[-1][0] - start)
      index = len(ops)
      ops.append([op_type, metadata.name, event.duration_ps, bool(is_input)])
    if event.duration_ps > 0:
      stack.append([end, index, bool(is_input)])
  return [tuple(op) for op in ops]


def _layer_group(op_name, layer_classes, optimizer_name):
  """The Keras layer class whose name scope holds `op_name`, 'optimizer' or 'other'."""
  for part in op_name.split("/"):
    name = part if part in layer_classes else re.sub(r"_\d+$", "", part)
    if name in layer_classes:
      return layer_classes[name]
    if name == optimizer_name:
      return "optimizer"
  return "other"


def analyze(xspace, steps, layer_classes=None, optimizer_name=None):
  """Per-step figures (ms) of a traced XSpace holding `steps` train steps; see the docstring."""
  ops = collections.defaultdict(lambda: [0, 0])  # type: [self ps, count]
  layers = collections.defaultdict(int)
  input_ops = collections.defaultdict(lambda: [0, 0])
  functions = collections.defaultdict(lambda: [0, 0])
  wait_ps = delete_ps = 0
  for plane in xspace.planes:
    if not plane.name.startswith("/host:"):
      continue
    function_stat = [i for i, m in plane.stat_metadata.items() if m.name == "tf_function_call"]
    for line in plane.lines:
      for op_type, op_name, self_ps, is_input in line_ops(plane, line):
        target = input_ops if is_input else ops
        target[op_type][0] += self_ps
        target[op_type][1] += 1
        if is_input:
          continue
        if op_type.startswith("xla:"):
          layers["XLA cluster (no layer scope)"] += self_ps
        else:
          layers[_layer_group(op_name, layer_classes or {}, optimizer_name)] += self_ps
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if name == "IteratorGetNextOp::DoCompute":
          wait_ps += event.duration_ps
        elif name == "TFE_DeleteTensorHandle":
          delete_ps = max(delete_ps, event.duration_ps)
        if any(stat.metadata_id in function_stat for stat in event.stats):
          functions[name][0] += event.duration_ps
          functions[name][1] += 1
  total_ps = sum(value[0] for value in ops.values())

  def per_step(ps):
    return ps / _PS_PER_MS / steps

  def rows(table, total):
    return [{"type": name, "ms_per_step": per_step(ps), "share": ps / total if total else 0.0,
             "count_per_step": count / steps}
            for name, (ps, count) in sorted(table.items(), key=lambda item: -item[1][0])]

  input_total = sum(value[0] for value in input_ops.values())
  train_function = max(functions.items(), key=lambda item: item[1][0], default=None)
  return {
      "op_ms_per_step": per_step(total_ps),
      "ops": rows(ops, total_ps),
      "layers": [{"group": name, "ms_per_step": per_step(ps),
                  "share": ps / total_ps if total_ps else 0.0}
                 for name, ps in sorted(layers.items(), key=lambda item: -item[1])],
      "train_function": train_function[0] if train_function else None,
      "train_function_calls": train_function[1][1] if train_function else 0,
      "train_function_ms_per_step": per_step(train_function[1][0]) if train_function else None,
      "longest_delete_tensor_handle_ms": delete_ps / _PS_PER_MS,
      "input": {"wait_ms_per_step": per_step(wait_ps),
                "map_op_ms_per_step": per_step(input_total),
                "ops": rows(input_ops, input_total)},
  }


def load_xspace(logdir):
  """(path, XSpace) of the newest `*.xplane.pb` under `logdir`."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  paths = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
  if not paths:
    raise RuntimeError(f"the profiler wrote no *.xplane.pb under {logdir}")
  path = max(paths, key=os.path.getmtime)
  xspace = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    xspace.ParseFromString(f.read())
  return path, xspace


def trace(logdir):
  """Builds the baseline arm, warms it up, traces `--steps` steps; returns figures."""
  import tensorflow as tf

  from mentornet.training import distribution
  distribution.set_op_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
  if FLAGS.data:
    bench.SHARED_SUBSET = "" if FLAGS.data == "embedded" else os.path.abspath(FLAGS.data)
  data_dir, dataset_name = bench._build_data(tempfile.mkdtemp(prefix="profile_data_"))
  levers = {name: value[0] for name, value in bench._levers().items()}
  runner = bench.Runner({"baseline": ("ours", levers)}, data_dir, dataset_name)
  model = runner.models["baseline"][1]
  if FLAGS.warmup_steps > 0:
    model.fit(runner.dataset, epochs=1, steps_per_epoch=FLAGS.warmup_steps, verbose=0,
              shuffle=False)
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  try:
    model.fit(runner.dataset, epochs=1, steps_per_epoch=FLAGS.steps, verbose=0, shuffle=False)
  finally:
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
  path, xspace = load_xspace(logdir)
  layer_classes = {layer.name: type(layer).__name__
                   for layer in model.student._flatten_layers(include_self=False)}
  figures = {"ms_per_step": 1000.0 * wall / FLAGS.steps}
  figures.update(analyze(xspace, FLAGS.steps, layer_classes, model.optimizer.name))
  figures["input"]["wait_share"] = figures["input"]["wait_ms_per_step"] / figures["ms_per_step"]
  figures.update({
      "studentnet": f"{FLAGS.studentnet} units={FLAGS.num_residual_units} "
                    f"widths={FLAGS.resnet_widths}",
      "batch_size": FLAGS.batch_size, "dataset": dataset_name, "steps": FLAGS.steps,
      "warmup_steps": FLAGS.warmup_steps, "levers": levers, "xplane": path,
      "load_average": os.getloadavg(),
  })
  return figures


def report(figures):
  """Prints the tables of `figures` (see `analyze`)."""
  print(f"StudentNet {figures['studentnet']}, batch {figures['batch_size']}, "
        f"{figures['dataset']}, {figures['steps']} traced steps; levers {figures['levers']}; "
        f"load {figures['load_average'][0]:.2f}")
  print(f"wall {figures['ms_per_step']:.2f} ms/step (fit, profiler on); train function "
        f"{figures['train_function_ms_per_step'] or 0:.2f} ms/step; TF op time "
        f"{figures['op_ms_per_step']:.2f} ms/step (summed over threads)")
  print(f"longest TFE_DeleteTensorHandle {figures['longest_delete_tensor_handle_ms']:.1f} ms "
        "in the trace (as fit returns: the input iterator's deletion)")
  print(f"{'op type':<34} {'ms/step':>9} {'share':>7} {'count/step':>11}")
  for row in figures["ops"][:FLAGS.top]:
    print(f"{row['type']:<34} {row['ms_per_step']:9.3f} {row['share']:7.1%} "
          f"{row['count_per_step']:11.1f}")
  rest = figures["ops"][FLAGS.top:]
  if rest:
    print(f"{f'({len(rest)} more types)':<34} {sum(r['ms_per_step'] for r in rest):9.3f} "
          f"{sum(r['share'] for r in rest):7.1%}")
  print("by Keras layer class (forward and gradient ops):")
  for row in figures["layers"]:
    print(f"  {row['group']:<32} {row['ms_per_step']:9.3f} {row['share']:7.1%}")
  data = figures["input"]
  top = ", ".join(f"{r['type']} {r['ms_per_step']:.2f}" for r in data["ops"][:5])
  print(f"tf.data: the step waited {data['wait_ms_per_step']:.2f} ms/step for input "
        f"({data['wait_share']:.1%} of the wall step); map-function ops "
        f"{data['map_op_ms_per_step']:.2f} ms/step ({top})")
  print(f"trace: {figures['xplane']}")


def main(argv):
  del argv
  logdir = FLAGS.logdir or tempfile.mkdtemp(prefix="profile_train_step_")
  figures = trace(logdir)
  report(figures)
  if FLAGS.json:
    with open(FLAGS.json, "w", encoding="utf-8") as f:
      json.dump(figures, f, indent=2)


if __name__ == "__main__":
  app.run(main)
