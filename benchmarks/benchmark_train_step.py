"""Times the MentorNet train step against the baseline step, and the tf.data input pipeline.

Everything is measured in one process and one run, alternating the two steps in rounds so
machine noise hits both alike; the figure to read is the ratio of median step times.

  python benchmarks/benchmark_train_step.py --num_residual_units=1 --batch_size=128

The input pipeline is timed on TFRecords built from ../shared/data/cifar10_subset.npz when it
exists (else on the embedded MNIST sample), decoding and augmenting as in training.
"""
import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "code"))
from mentornet import curriculum  # pylint: disable=g-import-not-at-top,wrong-import-position
from mentornet import data as data_lib  # pylint: disable=wrong-import-position
from mentornet import mentornet_net  # pylint: disable=wrong-import-position
from mentornet import noisy_data_builder  # pylint: disable=wrong-import-position
from mentornet import studentnets  # pylint: disable=wrong-import-position
from mentornet import trainer as trainer_lib  # pylint: disable=wrong-import-position

flags.DEFINE_integer("batch_size", 128, "Images per step.")
flags.DEFINE_integer("num_residual_units", 1, "ResNet units per stage.")
flags.DEFINE_string("resnet_widths", "16,160,320,640", "ResNet widths.")
flags.DEFINE_string("studentnet", "resnet101", "StudentNet.")
flags.DEFINE_integer("steps", 10, "Steps per timed round.")
flags.DEFINE_integer("rounds", 5, "Timed rounds per step kind (alternating).")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train steps.")
flags.DEFINE_string("mentornet_dir", "", "MentorNet SavedModel (default: a random one).")
flags.DEFINE_integer("pipeline_batches", 60, "Batches read to time the input pipeline.")
flags.DEFINE_string("output_json", "", "Also write the figures here.")
FLAGS = flags.FLAGS

SHARED_SUBSET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                             "data", "cifar10_subset.npz")


def _make_trainer(initial_weights, make_curriculum, num_classes=10):
  config = studentnets.StudentNetConfig(FLAGS.num_residual_units,
                                        studentnets.parse_widths(FLAGS.resnet_widths), False)
  student = studentnets.build_studentnet(FLAGS.studentnet, num_classes, config)
  for variable, value in zip(student.weights, initial_weights):
    variable.assign(value)
  model = trainer_lib.StudentTrainer(student, make_curriculum(), max_steps=39000)
  model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=FLAGS.jit_compile)
  return model


def time_steps():
  """Median seconds per step of the baseline and the MentorNet step, same student and data."""
  rng = np.random.default_rng(0)
  batch = FLAGS.batch_size
  features = {"image": rng.normal(size=(batch, 32, 32, 3)).astype(np.float32),
              "id": np.arange(batch, dtype=np.int64),
              "clean_label": rng.integers(0, 10, batch).astype(np.int32)}
  labels = rng.integers(0, 10, batch).astype(np.int32)
  dataset = tf.data.Dataset.from_tensors((features, labels)).repeat()
  config = studentnets.StudentNetConfig(FLAGS.num_residual_units,
                                        studentnets.parse_widths(FLAGS.resnet_widths), False)
  initial = [w.numpy() for w in studentnets.build_studentnet(FLAGS.studentnet, 10,
                                                              config).weights]
  mentornet_dir = FLAGS.mentornet_dir
  if not mentornet_dir:
    mentornet_dir = tempfile.mkdtemp(prefix="bench_mentornet_")
    mentornet_net.export_saved_model(mentornet_net.build_mentornet(seed=0), mentornet_dir)
  mentornet = mentornet_net.load_mentornet(mentornet_dir)
  rates = curriculum.parse_example_dropout_rates("0.5,17,0.05,78,1.0,5")
  models = {
      "baseline": _make_trainer(initial, lambda: curriculum.NoCurriculum()),
      "mentornet": _make_trainer(initial, lambda: curriculum.MentorNetCurriculum(
          mentornet, example_dropout_rates=rates)),
  }
  for model in models.values():  # Trace, compile and warm up.
    model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)
  seconds = {name: [] for name in models}
  for _ in range(FLAGS.rounds):
    for name, model in models.items():
      start = time.perf_counter()
      model.fit(dataset, epochs=1, steps_per_epoch=FLAGS.steps, verbose=0, shuffle=False)
      seconds[name].append((time.perf_counter() - start) / FLAGS.steps)
  return {name: float(np.median(values)) for name, values in seconds.items()}, seconds


def time_input_pipeline():
  """Images/s of the training input pipeline (read, decode, augment, batch)."""
  scratch = tempfile.mkdtemp(prefix="bench_data_")
  if os.path.exists(SHARED_SUBSET):
    name, source = "cifar10", SHARED_SUBSET
  else:
    name, source = "mnist", "embedded"
  noisy_data_builder.build_noisy_datasets(name, source, noise_fractions=[0.4],
                                          output_dir=scratch, log=lambda *_: None)
  split = data_lib.describe_split(os.path.join(scratch, name, "0.4"), name, "train")
  dataset = data_lib.make_dataset(split, name, FLAGS.batch_size, training=True, cache=False)
  iterator = iter(dataset)
  next(iterator)
  start = time.perf_counter()
  for _ in range(FLAGS.pipeline_batches):
    next(iterator)
  elapsed = time.perf_counter() - start
  return name, FLAGS.pipeline_batches * FLAGS.batch_size / elapsed


def main(argv):
  del argv
  medians, rounds = time_steps()
  dataset_name, pipeline_images_per_sec = time_input_pipeline()
  batch = FLAGS.batch_size
  figures = {
      "studentnet": f"{FLAGS.studentnet} units={FLAGS.num_residual_units} "
                    f"widths={FLAGS.resnet_widths}",
      "batch_size": batch, "jit_compile": FLAGS.jit_compile,
      "baseline_sec_per_step": medians["baseline"],
      "mentornet_sec_per_step": medians["mentornet"],
      "mentornet_over_baseline": medians["mentornet"] / medians["baseline"],
      "baseline_images_per_sec": batch / medians["baseline"],
      "mentornet_images_per_sec": batch / medians["mentornet"],
      "input_pipeline_images_per_sec": pipeline_images_per_sec,
      "input_pipeline_dataset": dataset_name,
      "rounds_sec_per_step": rounds,
      "device": tf.config.list_logical_devices()[-1].device_type,
  }
  print(f"StudentNet {figures['studentnet']}, batch {batch}, jit={FLAGS.jit_compile}, "
        f"{FLAGS.rounds} rounds x {FLAGS.steps} steps")
  print(f"  baseline step   {medians['baseline'] * 1000:8.1f} ms  "
        f"{figures['baseline_images_per_sec']:8.1f} images/s")
  print(f"  MentorNet step  {medians['mentornet'] * 1000:8.1f} ms  "
        f"{figures['mentornet_images_per_sec']:8.1f} images/s")
  print(f"  ratio MentorNet / baseline: {figures['mentornet_over_baseline']:.3f}")
  print(f"  tf.data input pipeline ({dataset_name}): {pipeline_images_per_sec:.0f} images/s")
  if FLAGS.output_json:
    with open(FLAGS.output_json, "w", encoding="utf-8") as f:
      json.dump(figures, f, indent=2)


if __name__ == "__main__":
  app.run(main)
