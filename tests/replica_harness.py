"""Trains one StudentTrainer on one and on two logical CPU replicas from the same start.

Logical CPU devices can only be made before TensorFlow starts, so a replica check is a short
script run in a fresh process (`run_script`) that calls `split_cpu_in_two()` first and then
`one_and_two_replicas(...)`. Both runs see the same three batches of 16 random 32 x 32 images
and start from the same weights of a ResNet-8 of widths 4,4,8,8 with synchronized batch norm.
"""
import json
import subprocess
import sys

import numpy as np

STEPS = 3
BATCH = 16


def run_script(script, out_path, *args, timeout=300):
  """Runs `script` with `python -c` (argv: out_path, *args); returns the JSON it wrote."""
  from conftest import subprocess_env  # here: a replica script must not import pytest first
  proc = subprocess.run([sys.executable, "-c", script, str(out_path), *map(str, args)],
                        env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out_path, encoding="utf-8") as f:
    return json.load(f)


def split_cpu_in_two():
  """Makes /cpu:0 and /cpu:1; call before anything else touches TensorFlow."""
  import tensorflow as tf
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


def random_batches(num_examples=None):
  """(images [3, 16, 32, 32, 3], labels [3, 16], ids [3, 16]) from seed 0.

  Ids are 0..47 in order, or, with `num_examples`, drawn from -1..num_examples - 1 (-1: no id).
  """
  rng = np.random.default_rng(0)
  images = rng.normal(size=(STEPS, BATCH, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 10, size=(STEPS, BATCH)).astype(np.int32)
  if num_examples is None:
    ids = np.arange(STEPS * BATCH, dtype=np.int64).reshape(STEPS, BATCH)
  else:
    ids = rng.integers(-1, num_examples, size=(STEPS, BATCH)).astype(np.int64)
  return images, labels, ids


def one_and_two_replicas(make_curriculum, record_step=None, record_end=None, *, max_steps=10,
                         num_examples=None):
  """Trains three steps on ["/cpu:0"] and on ["/cpu:0", "/cpu:1"] (MirroredStrategy).

  make_curriculum(): builds the curriculum inside the strategy's scope.
  record_step(curriculum, logs) -> dict, after each step; record_end(model) -> dict, at the end.
  Returns {"one": run, "two": run}, each run {"history": [step records], **record_end(model)}.
  """
  import keras
  import tensorflow as tf

  from mentornet.models import studentnets
  from mentornet.training import trainer

  images, labels, ids = random_batches(num_examples)
  config = studentnets.StudentNetConfig(1, (4, 4, 8, 8), sync_batch_norm=True)
  keras.utils.set_random_seed(5)
  initial = [w.numpy() for w in studentnets.build_resnet(10, config).weights]

  def run(devices):
    strategy = tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
      student = studentnets.build_resnet(10, config)
      for variable, value in zip(student.weights, initial):
        variable.assign(value)
      model = trainer.StudentTrainer(student, make_curriculum(), max_steps=max_steps,
                                     random_seed=3, num_examples=num_examples)
      model.compile(optimizer=studentnets.TF1Momentum(0.1, momentum=0.9))
    data = tf.data.Dataset.from_tensor_slices(
        ({"image": images, "id": ids, "clean_label": labels}, labels))
    history = []

    class Record(keras.callbacks.Callback):
      def on_train_batch_end(self, batch, logs=None):
        if record_step is not None:
          history.append(record_step(model.curriculum, logs))

    model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False,
              callbacks=[Record()])
    return {"history": history, **(record_end(model) if record_end is not None else {})}

  return {"one": run(["/cpu:0"]), "two": run(["/cpu:0", "/cpu:1"])}
