"""`CurriculumModel`: any Keras classifier trained under a curriculum with `compile` / `fit`.

It is the project's one trainer (`mentornet.training.trainer.StudentTrainer`, the same train
step as the CIFAR scripts) around the user's model, with `fit` taking the inputs Keras takes:

  learner = mentornet.CurriculumModel(model, curriculum=mentornet.MentorNet("mentornet_pd"))
  learner.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
  learner.fit(x, y, epochs=100, batch_size=128, validation_data=(x_val, y_val))

- `model`: any `keras.Model` mapping a batch of inputs to logits [batch, classes] (images of
  any size, token ids, tabular features); its `losses` (e.g. L2 regularizers) are added as the
  original adds weight decay. After training it is the user's plain model: save and load it
  as usual.
- `fit` numbers the examples (`keras_api.inputs`) and sets the training length, epochs x steps
  per epoch, which the MentorNet's epoch feature (percent of training done), burn-in and
  example-dropout schedule follow; the train step accumulates each example's margin, loss and
  v in `dynamics` (`training.dynamics`, its first half apart), which `find_label_issues` ranks by.
- The loss is the curriculum-weighted sparse cross-entropy on logits; `compile` takes no loss,
  and accuracy is the one metric (always logged).
- Create and compile it inside a `tf.distribute` strategy scope to train distributed; Keras
  callbacks work (`BackupAndRestore` restores the curriculum's state with the weights;
  `ModelCheckpoint` saves weights or, with a .keras path, the whole `CurriculumModel`, which
  `keras.saving.load_model` reads once `mentornet.keras_api` is imported).
"""
import keras
import numpy as np
import tensorflow as tf

from mentornet.errors import UsageError
import mentornet.keras_api.curricula as curricula
import mentornet.keras_api.inputs as inputs_lib
from mentornet.training import dynamics as dynamics_lib
from mentornet.training import trainer as trainer_lib

ACCURACY_METRICS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
DEFAULT_BATCH_SIZE = 32  # Keras's


def check_logits(outputs, where="the model"):
  """The class count of logits `outputs` [batch, classes]; UsageError for another shape."""
  shape = tuple(outputs.shape)
  if len(shape) != 2 or shape[1] is None or shape[1] < 2:
    raise UsageError(f"{where} outputs shape {list(shape)}; a classifier must output logits "
                     "[batch, classes] with at least 2 classes")
  return int(shape[1])


@keras.saving.register_keras_serializable(package="mentornet")
class CurriculumModel(trainer_lib.StudentTrainer):
  """Trains `model` under `curriculum` with Keras's `compile` / `fit` / `evaluate`.

  Args:
    model: `keras.Model`, inputs -> logits [batch, classes].
    curriculum: a shipped MentorNet name (default "mentornet_pd"), "data_parameters", "none"
      (None), a MentorNet SavedModel path, or `mentornet.MentorNet(...)` /
      `mentornet.DataParameters(...)` with its settings.
    seed: seed of the example dropout draws and of the shuffling of `fit`'s examples.
  """

  def __init__(self, model, curriculum=curricula.DEFAULT_CURRICULUM, seed=0, **kwargs):
    spec = curricula.resolve_curriculum(curriculum)
    spec.settings()  # Bad settings fail here, before any data is read.
    placeholder = curricula.NoCurriculum() if curricula.needs_data(spec) else spec
    super().__init__(model, placeholder.build(num_examples=0, num_classes=0), max_steps=None,
                     random_seed=seed, **kwargs)
    self.curriculum_spec = spec
    self._curriculum_data = None  # (examples, classes) the curriculum was built for.
    self.num_classes = None
    self.training_data = None  # `inputs.NumberedData` of the last `fit`.

  def get_config(self):
    return {"name": self.name, "seed": self.random_seed,
            "model": keras.saving.serialize_keras_object(self.student),
            "curriculum": curricula.spec_config(self.curriculum_spec)}

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    model = keras.saving.deserialize_keras_object(config.pop("model"),
                                                  custom_objects=custom_objects)
    spec = curricula.spec_from_config(config.pop("curriculum"))
    return cls(model, curriculum=spec, **config)

  def compile(self, optimizer="rmsprop", loss=None, metrics=None, jit_compile=False,
              **kwargs):
    """Keras's `compile` without a loss (the curriculum's); metrics: accuracy only."""
    if loss is not None:
      raise UsageError("CurriculumModel trains with the curriculum-weighted cross-entropy on "
                       "logits; compile it without loss=")
    for metric in tf.nest.flatten(metrics or []):
      if metric not in ACCURACY_METRICS:
        raise UsageError(f"metric {metric!r} is not supported; accuracy is always logged")
    super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

  @property
  def curriculum_settings(self):
    """The curriculum's settings, JSON-ready."""
    return self.curriculum_spec.settings()

  def prepare(self, data, max_steps):
    """Builds model, curriculum, training dynamics and optimizer for `data`
    (`inputs.NumberedData`) and `max_steps` of training, inside the strategy scope; UsageError
    when the model's output is not logits for these labels."""
    if self.optimizer is None:
      raise UsageError("compile the CurriculumModel before fit")
    with self.distribute_strategy.scope():
      outputs = self.student(data.sample_inputs(), training=False)
      num_classes = check_logits(outputs)
      if data.labels.max() >= num_classes:
        raise UsageError(f"labels go up to {data.labels.max()} but the model outputs "
                         f"{num_classes} classes")
      key = (data.num_examples, num_classes)
      if curricula.needs_data(self.curriculum_spec):
        if self._curriculum_data is None:
          self.curriculum = self.curriculum_spec.build(*key)
        elif self._curriculum_data != key:
          raise UsageError(f"the curriculum was built for {self._curriculum_data[0]} examples "
                           f"of {self._curriculum_data[1]} classes, not {key[0]} of {key[1]}")
      self._curriculum_data = key
      if self.dynamics is None or self.dynamics.num_examples != data.num_examples:
        # Made anew for other data, kept when `fit` continues on the same examples (its sums
        # then span both).
        self.dynamics = dynamics_lib.TrainingDynamics.for_training(data.num_examples, max_steps)
      if not self.optimizer.built:
        self.optimizer.build(self.student.trainable_variables)
    self.num_classes = num_classes
    self.built = True

  def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
          validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
          sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
          validation_batch_size=None, validation_freq=1):
    """Keras's `fit`; x, y: arrays (y int or one-hot) or x a `tf.data.Dataset` of (x, y)
    batches. The curriculum's schedule spans epochs x steps per epoch (from 0, so a resumed
    or continued run keeps its place); `batch_size` defaults to a dataset's own batch size.
    Sample and class weights and `validation_split` are not supported (the curriculum sets
    the weights; pass `validation_data`)."""
    if sample_weight is not None or class_weight is not None:
      raise UsageError("sample_weight and class_weight are not supported: the curriculum "
                       "weighs the examples")
    if validation_split:
      raise UsageError("validation_split is not supported; pass validation_data")
    if batch_size is None:
      batch_size = DEFAULT_BATCH_SIZE
      if isinstance(x, tf.data.Dataset):
        _, first_labels = next(iter(x))
        batch_size = int(first_labels.shape[0])
    data = inputs_lib.number_examples(x, y)
    max_steps = epochs * (steps_per_epoch or data.steps(batch_size))
    self.prepare(data, max_steps)
    self.set_max_steps(max_steps)
    self.training_data = data
    dataset = data.batches(batch_size, shuffle=shuffle, seed=self.random_seed)
    if steps_per_epoch:
      dataset = dataset.repeat()
    return super().fit(dataset, epochs=epochs, verbose=verbose, callbacks=callbacks,
                       validation_data=validation_data, initial_epoch=initial_epoch,
                       steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                       validation_batch_size=validation_batch_size,
                       validation_freq=validation_freq, shuffle=False)

  def predict_logits(self, data, batch_size=256):
    """(ids int64 [n], logits float32 [n, classes]) of `data` (`inputs.NumberedData`)."""
    @tf.function(autograph=False, reduce_retracing=True)
    def predict(x):
      return tf.cast(self.student(x, training=False), tf.float32)

    ids, logits = [], []
    for features, _ in data.batches(batch_size):
      ids.append(features["id"].numpy())
      logits.append(predict(features["x"]).numpy())
    return np.concatenate(ids), np.concatenate(logits)
