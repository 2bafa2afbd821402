"""tf.distribute set-up: one device, MirroredStrategy on one machine, multi-worker past it.

`--strategy=auto` picks MultiWorkerMirroredStrategy when TF_CONFIG names more than one worker,
MirroredStrategy when more than one GPU (or `--cpu_replicas` > 1) is visible, else the default
single-device strategy.
"""
import json
import os

from absl import logging
import tensorflow as tf

from mentornet.errors import UsageError

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


def cluster_spec_from_env():
  """Parsed TF_CONFIG (dict) or None; raises UsageError when it is not valid JSON."""
  raw = os.environ.get("TF_CONFIG", "")
  if not raw.strip():
    return None
  try:
    return json.loads(raw)
  except json.JSONDecodeError as e:
    raise UsageError(f"TF_CONFIG is not valid JSON: {e}")


def num_workers_in_env():
  config = cluster_spec_from_env()
  if not config:
    return 1
  cluster = config.get("cluster", {})
  return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _configure_cpu_replicas(count):
  cpus = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
  except RuntimeError:
    pass  # Already initialized (e.g. a second job in the same process): keep what exists.
  return [d.name for d in tf.config.list_logical_devices("CPU")][:count]


def set_op_threads(intra_op_threads, inter_op_threads):
  """Sizes TensorFlow's op thread pools (0 keeps its default) before its runtime starts.

  Returns True when the setting is in effect; once the runtime has started a different size
  cannot be applied, which is logged and returns False.
  """
  threading = tf.config.threading
  wanted = (int(intra_op_threads), int(inter_op_threads))
  if any(n < 0 for n in wanted):
    raise UsageError(f"thread counts must be >= 0, got intra {wanted[0]}, inter {wanted[1]}")
  current = (threading.get_intra_op_parallelism_threads(),
             threading.get_inter_op_parallelism_threads())
  if current == wanted:
    return True
  try:
    threading.set_intra_op_parallelism_threads(wanted[0])
    threading.set_inter_op_parallelism_threads(wanted[1])
  except RuntimeError:
    logging.warning("TensorFlow already started with %s intra/inter-op threads; %s not applied",
                    current, wanted)
    return False
  return True


def make_strategy(name="auto", num_gpus=0, cpu_replicas=0):
  """Returns the `tf.distribute.Strategy` for `--strategy`, `--num_gpus`, `--cpu_replicas`."""
  if name not in STRATEGIES:
    raise UsageError(f"unknown --strategy={name!r}; choose one of {', '.join(STRATEGIES)}")
  if name == "multi_worker" or (name == "auto" and num_workers_in_env() > 1):
    # Collectives over the workers in TF_CONFIG; each worker uses its local GPUs or its CPU.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    logging.info("MultiWorkerMirroredStrategy with %d replicas", strategy.num_replicas_in_sync)
    return strategy
  if cpu_replicas > 1:
    devices = _configure_cpu_replicas(cpu_replicas)
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
  gpus = [d.name.replace("physical_device:", "") for d in tf.config.list_physical_devices("GPU")]
  if num_gpus:
    if num_gpus > len(gpus):
      raise UsageError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
    gpus = gpus[:num_gpus]
  if name == "mirrored" or (name == "auto" and len(gpus) > 1):
    return tf.distribute.MirroredStrategy(gpus or None)
  return tf.distribute.get_strategy()


def is_chief(strategy):
  """True on the worker that writes checkpoints and summaries."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type == "chief" or (task_type == "worker" and task_id == 0 and
                                  "chief" not in resolver.cluster_spec().as_dict())


def shard_by_data(dataset):
  """Multi-worker input: every worker reads all files and keeps its share of the elements."""
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return dataset.with_options(options)
