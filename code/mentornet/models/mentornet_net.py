"""The MentorNet network, its SavedModel export/load and the importer of original TF1 checkpoints.

MentorNet maps per-example features [batch, 4] = (loss, loss_diff, label, epoch) to a weight
v = sigmoid(logit) in [0, 1]. `label` (0/1) and `epoch` (0..99) are integers stored as floats; they
are truncated to int32 and clipped into range before the embedding lookups. The network is the
original one (google/mentornet `utils.mentornet_nn`), quirks included:

  label_emb = label_embedding[label]                  # [2, 2], trainable
  epoch_emb = epoch_embedding[epoch]                  # [100, 5], NOT trainable (seeded random)
  fw_c, bw_c = final cell states c (not h) of a bidirectional 1-unit LSTM run over the
               length-1 sequence [(loss, loss_diff)] from a zero state, forget bias 0
  feat = concat([label_emb, epoch_emb, fw_c, bw_c])   # [batch, 9]
  fc1 = tanh(feat @ W1 + b1)                          # W1 [9, 20], b1 [20]
  logit = fc1 @ (W2 + b2)                             # W2 [20, 1], b2 [1]: bias added INTO W2
  v = sigmoid(logit)

The LSTM weights use the TF1 `BasicLSTMCell` layout: kernel [input 2 + units 1, 4] whose rows are
[x; h] and whose gate columns are (i, j, f, o), bias [4]. From h0 = c0 = 0 one step gives
c = sigmoid(i) * tanh(j), so the LSTM reduces to `LSTMFinalCellState` (no loop). Keras' LSTM
orders gates (i, f, c, o), with j = c; `tf1_lstm_to_keras_lstm_weights` does the reorder.

Two forms:
- `build_mentornet(seed)`: a trainable `keras.Model`, features [batch, 4] -> logit [batch, 1]
  (train it with sigmoid cross-entropy, or squared error of sigmoid).
- The exported SavedModel (`export_saved_model`, `load_mentornet`): `m(features)` -> v [batch, 1],
  also the `serving_default` signature (input `features`, output `v`). Plain TF ops on
  non-trainable variables: cheap in a jit-compiled train step, loadable under a
  `tf.distribute` strategy scope, and `m.trainable_variables == []`.

Parameters travel between the two forms, and from TF1 checkpoints, as a dict of float32 NumPy
arrays keyed by `PARAMETER_SHAPES` (see `model_parameters`, `assign_parameters`,
`read_tf1_checkpoint`).
"""
import os
import tempfile

from absl import logging
import keras
from keras import ops
import numpy as np
import tensorflow as tf

from mentornet.errors import UsageError

FEATURE_DIM = 4  # (loss, loss_diff, label, epoch)
NUM_LABELS = 2
NUM_EPOCHS = 100
LABEL_EMBEDDING_SIZE = 2
EPOCH_EMBEDDING_SIZE = 5
LSTM_INPUT_DIM = 2  # (loss, loss_diff)
LSTM_UNITS = 1
NUM_FC_NODES = 20
FEATURE_CONCAT_DIM = LABEL_EMBEDDING_SIZE + EPOCH_EMBEDDING_SIZE + 2 * LSTM_UNITS  # 9

# Version of the exported SavedModel layout, stored in it as `mentornet_format_version`.
FORMAT_VERSION = 1
FORMAT_MARKER = "mentornet_format_version"

_LSTM_KERNEL_SHAPE = (LSTM_INPUT_DIM + LSTM_UNITS, 4 * LSTM_UNITS)
_LSTM_BIAS_SHAPE = (4 * LSTM_UNITS,)

# Parameter name -> shape. The order is the order of the variables in an exported SavedModel.
PARAMETER_SHAPES = {
    "label_embedding": (NUM_LABELS, LABEL_EMBEDDING_SIZE),
    "epoch_embedding": (NUM_EPOCHS, EPOCH_EMBEDDING_SIZE),
    "fw_lstm_kernel": _LSTM_KERNEL_SHAPE,
    "fw_lstm_bias": _LSTM_BIAS_SHAPE,
    "bw_lstm_kernel": _LSTM_KERNEL_SHAPE,
    "bw_lstm_bias": _LSTM_BIAS_SHAPE,
    "fc1_kernel": (FEATURE_CONCAT_DIM, NUM_FC_NODES),
    "fc1_bias": (NUM_FC_NODES,),
    "out_kernel": (NUM_FC_NODES, 1),
    "out_bias": (1,),
}

_TF1_LSTM_SCOPE = "mentornet/bidirectional_rnn/{}/basic_lstm_cell/{}"
# Parameter name -> variable name in an original TF1 MentorNet checkpoint. The dense layers were
# unnamed `tf.Variable`s, hence Variable..Variable_3. `mentor_inputs/cumulative` (the loss moving
# average) is deliberately absent: the original never restored it, it starts at 0.
TF1_CHECKPOINT_NAMES = {
    "label_embedding": "mentornet/label_embedding",
    "epoch_embedding": "mentornet/epoch_embedding",
    "fw_lstm_kernel": _TF1_LSTM_SCOPE.format("fw", "kernel"),
    "fw_lstm_bias": _TF1_LSTM_SCOPE.format("fw", "bias"),
    "bw_lstm_kernel": _TF1_LSTM_SCOPE.format("bw", "kernel"),
    "bw_lstm_bias": _TF1_LSTM_SCOPE.format("bw", "bias"),
    "fc1_kernel": "mentornet/Variable",
    "fc1_bias": "mentornet/Variable_1",
    "out_kernel": "mentornet/Variable_2",
    "out_bias": "mentornet/Variable_3",
}

# TF1 gate blocks (i, j, f, o) taken in Keras order (i, f, c=j, o).
_TF1_TO_KERAS_GATE_BLOCKS = (0, 2, 1, 3)

_FEATURES_SPEC = tf.TensorSpec([None, FEATURE_DIM], tf.float32, name="features")


# ----------------------------------------------------------------------------- Keras model


class _KernelAndBiasLayer(keras.layers.Layer):
  """Shared config of the MentorNet's custom layers: `units`, kernel and bias initializers."""

  def __init__(self, units=1, kernel_initializer="glorot_uniform", bias_initializer="zeros",
               **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.bias_initializer = keras.initializers.get(bias_initializer)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.units)

  def get_config(self):
    return {
        **super().get_config(),
        "units": self.units,
        "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        "bias_initializer": keras.initializers.serialize(self.bias_initializer),
    }


@keras.saving.register_keras_serializable(package="mentornet")
class LSTMFinalCellState(_KernelAndBiasLayer):
  """Cell state c after one LSTM step from h0 = c0 = 0, weights in TF1 BasicLSTMCell layout.

  Weights: `kernel` [input_dim + units, 4 * units] (rows [x; h], gate columns (i, j, f, o)) and
  `bias` [4 * units]. Input x [batch, input_dim] -> c = sigmoid(i) * tanh(j) [batch, units]; the
  forget and output gates do not reach c from a zero state. The zero h0 is still multiplied in,
  so the recurrent rows get zero (not missing) gradients.
  """

  def build(self, input_shape):
    input_dim = input_shape[-1]
    self.kernel = self.add_weight(
        name="kernel", shape=(input_dim + self.units, 4 * self.units),
        initializer=self.kernel_initializer)
    self.bias = self.add_weight(
        name="bias", shape=(4 * self.units,), initializer=self.bias_initializer)

  def call(self, inputs):
    zero_h = ops.repeat(ops.zeros_like(inputs[:, :1]), self.units, axis=1)
    gates = ops.matmul(ops.concatenate([inputs, zero_h], axis=1), self.kernel) + self.bias
    input_gate = gates[:, :self.units]
    candidate = gates[:, self.units:2 * self.units]
    return ops.sigmoid(input_gate) * ops.tanh(candidate)


@keras.saving.register_keras_serializable(package="mentornet")
class BiasIntoKernelDense(_KernelAndBiasLayer):
  """The original MentorNet output layer: x [batch, in] -> x @ (kernel + bias) [batch, units].

  `kernel` [in, units], `bias` [units] is broadcast INTO the kernel before the product, so the
  output carries no separate bias term (this is what the original graph computed).
  """

  def build(self, input_shape):
    self.kernel = self.add_weight(
        name="kernel", shape=(input_shape[-1], self.units), initializer=self.kernel_initializer)
    self.bias = self.add_weight(
        name="bias", shape=(self.units,), initializer=self.bias_initializer)

  def call(self, inputs):
    return ops.matmul(inputs, self.kernel + self.bias)


@keras.saving.register_keras_serializable(package="mentornet")
class SplitMentorNetFeatures(keras.layers.Layer):
  """features [batch, 4] -> (loss_and_diff [batch, 2], label int32 [batch], epoch int32 [batch]).

  label and epoch are truncated to int32 and clipped to [0, 1] and [0, 99].
  """

  def call(self, features):
    loss_and_diff = features[:, :LSTM_INPUT_DIM]
    labels = ops.clip(ops.cast(features[:, 2], "int32"), 0, NUM_LABELS - 1)
    epochs = ops.clip(ops.cast(features[:, 3], "int32"), 0, NUM_EPOCHS - 1)
    return loss_and_diff, labels, epochs

  def compute_output_spec(self, features):
    batch = features.shape[0]
    return (keras.KerasTensor((batch, LSTM_INPUT_DIM), dtype=features.dtype),
            keras.KerasTensor((batch,), dtype="int32"),
            keras.KerasTensor((batch,), dtype="int32"))


def build_mentornet(seed=0):
  """The trainable MentorNet: `keras.Model` features float32 [batch, 4] -> logit [batch, 1].

  v = sigmoid(logit). Initializers follow the original (embeddings and LSTM kernels Glorot
  uniform, LSTM biases 0, dense weights and biases N(0, 1)), each seeded from `seed`, so the
  fixed epoch embedding is reproducible. Layer names: label_embedding, epoch_embedding
  (trainable=False), fw_lstm, bw_lstm, fc1, out.
  """
  def seeded(initializer_class, offset, **kwargs):
    return initializer_class(seed=seed * 16 + offset, **kwargs)

  features = keras.Input(shape=(FEATURE_DIM,), dtype="float32", name="features")
  loss_and_diff, labels, epochs = SplitMentorNetFeatures(name="split_features")(features)
  label_emb = keras.layers.Embedding(
      NUM_LABELS, LABEL_EMBEDDING_SIZE, name="label_embedding",
      embeddings_initializer=seeded(keras.initializers.GlorotUniform, 0))(labels)
  epoch_emb = keras.layers.Embedding(
      NUM_EPOCHS, EPOCH_EMBEDDING_SIZE, name="epoch_embedding", trainable=False,
      embeddings_initializer=seeded(keras.initializers.GlorotUniform, 1))(epochs)
  fw_c = LSTMFinalCellState(
      LSTM_UNITS, name="fw_lstm",
      kernel_initializer=seeded(keras.initializers.GlorotUniform, 2))(loss_and_diff)
  bw_c = LSTMFinalCellState(
      LSTM_UNITS, name="bw_lstm",
      kernel_initializer=seeded(keras.initializers.GlorotUniform, 3))(loss_and_diff)
  concat = keras.layers.Concatenate(name="concat")([label_emb, epoch_emb, fw_c, bw_c])
  fc1 = keras.layers.Dense(
      NUM_FC_NODES, activation="tanh", name="fc1",
      kernel_initializer=seeded(keras.initializers.RandomNormal, 4, stddev=1.0),
      bias_initializer=seeded(keras.initializers.RandomNormal, 5, stddev=1.0))(concat)
  logit = BiasIntoKernelDense(
      1, name="out",
      kernel_initializer=seeded(keras.initializers.RandomNormal, 6, stddev=1.0),
      bias_initializer=seeded(keras.initializers.RandomNormal, 7, stddev=1.0))(fc1)
  return keras.Model(features, logit, name="mentornet")


def _model_variables(model):
  """Parameter name -> the Keras variable of a `build_mentornet` model holding it."""
  return {
      "label_embedding": model.get_layer("label_embedding").embeddings,
      "epoch_embedding": model.get_layer("epoch_embedding").embeddings,
      "fw_lstm_kernel": model.get_layer("fw_lstm").kernel,
      "fw_lstm_bias": model.get_layer("fw_lstm").bias,
      "bw_lstm_kernel": model.get_layer("bw_lstm").kernel,
      "bw_lstm_bias": model.get_layer("bw_lstm").bias,
      "fc1_kernel": model.get_layer("fc1").kernel,
      "fc1_bias": model.get_layer("fc1").bias,
      "out_kernel": model.get_layer("out").kernel,
      "out_bias": model.get_layer("out").bias,
  }


def model_parameters(model):
  """A `build_mentornet` model's parameters: {name: float32 array of PARAMETER_SHAPES[name]}."""
  return {name: np.asarray(variable.numpy(), np.float32)
          for name, variable in _model_variables(model).items()}


def assign_parameters(model, parameters):
  """Sets a `build_mentornet` model's weights from a parameter dict (e.g. a TF1 checkpoint's)."""
  parameters = validate_parameters(parameters)
  for name, variable in _model_variables(model).items():
    variable.assign(parameters[name])


def validate_parameters(parameters, source="MentorNet parameters"):
  """Returns `parameters` as float32 arrays; raises `UsageError` on a missing name or bad shape."""
  checked = {}
  for name, shape in PARAMETER_SHAPES.items():
    if name not in parameters:
      raise UsageError(f"{source}: missing {name!r}")
    value = np.asarray(parameters[name], np.float32)
    if value.shape != shape:
      raise UsageError(f"{source}: {name} has shape {list(value.shape)}, expected {list(shape)}")
    checked[name] = value
  return checked


def mentornet_weights(mentornet, features):
  """Example weights v float32 [batch, 1] for features float32 [batch, 4].

  `mentornet` is a `build_mentornet` Keras model (outputs logits: v = sigmoid of them) or a loaded
  MentorNet SavedModel (outputs v already).
  """
  if isinstance(mentornet, keras.Model):
    return tf.sigmoid(mentornet(features))
  return mentornet(features)


def tf1_lstm_to_keras_lstm_weights(kernel, bias, input_dim=LSTM_INPUT_DIM):
  """TF1 BasicLSTMCell weights -> `keras.layers.LSTM` weights [kernel, recurrent_kernel, bias].

  TF1: kernel [input_dim + units, 4 * units], rows [x; h], gate columns (i, j, f, o); bias
  [4 * units]. Keras: kernel [input_dim, 4u] (x rows), recurrent_kernel [units, 4u] (h rows),
  bias [4u], gate columns (i, f, c, o) where Keras' c is TF1's j. The forget_bias=0 of the original
  matches a Keras LSTM with unit_forget_bias=False.
  """
  kernel = np.asarray(kernel, np.float32)
  bias = np.asarray(bias, np.float32)
  units = bias.shape[0] // 4

  def reorder(columns):
    return np.concatenate(
        [columns[..., block * units:(block + 1) * units] for block in _TF1_TO_KERAS_GATE_BLOCKS],
        axis=-1)

  return [reorder(kernel[:input_dim]), reorder(kernel[input_dim:]), reorder(bias)]


# ----------------------------------------------------------------------------- SavedModel


def _lstm_final_cell_state(loss_and_diff, kernel, bias):
  """[batch, 2] -> c [batch, 1] of one TF1 BasicLSTMCell step from a zero state (h0 rows drop)."""
  gates = tf.matmul(loss_and_diff, kernel[:LSTM_INPUT_DIM]) + bias
  input_gate, candidate, _, _ = tf.split(gates, 4, axis=1)
  return tf.sigmoid(input_gate) * tf.tanh(candidate)


class _ExportedMentorNet(tf.Module):
  """What `export_saved_model` saves: non-trainable copies of the parameters and plain-TF math.

  Follows the reusable-SavedModel convention: `variables`, `trainable_variables` (empty) and
  `regularization_losses` (empty) are saved as attributes, so the loaded object reports them.
  """

  # Shadow tf.Module's read-only properties so __init__ can store (and the SavedModel keep) lists.
  variables = None
  trainable_variables = None
  regularization_losses = None

  def __init__(self, parameters):
    super().__init__(name="mentornet")
    setattr(self, FORMAT_MARKER,
            tf.Variable(FORMAT_VERSION, dtype=tf.int32, trainable=False, name=FORMAT_MARKER))
    self.parameters = {name: tf.Variable(value, trainable=False, name=name)
                       for name, value in parameters.items()}
    self.variables = [getattr(self, FORMAT_MARKER)] + list(self.parameters.values())
    self.trainable_variables = []
    self.regularization_losses = []

  @tf.function(input_signature=[_FEATURES_SPEC])
  def logit(self, features):
    """features float32 [batch, 4] -> pre-sigmoid MentorNet output [batch, 1]."""
    p = self.parameters
    labels = tf.clip_by_value(tf.cast(features[:, 2], tf.int32), 0, NUM_LABELS - 1)
    epochs = tf.clip_by_value(tf.cast(features[:, 3], tf.int32), 0, NUM_EPOCHS - 1)
    loss_and_diff = features[:, :LSTM_INPUT_DIM]
    concat = tf.concat([
        tf.gather(p["label_embedding"], labels),
        tf.gather(p["epoch_embedding"], epochs),
        _lstm_final_cell_state(loss_and_diff, p["fw_lstm_kernel"], p["fw_lstm_bias"]),
        _lstm_final_cell_state(loss_and_diff, p["bw_lstm_kernel"], p["bw_lstm_bias"]),
    ], axis=1)
    fc1 = tf.tanh(tf.matmul(concat, p["fc1_kernel"]) + p["fc1_bias"])
    return tf.matmul(fc1, p["out_kernel"] + p["out_bias"])

  @tf.function(input_signature=[_FEATURES_SPEC])
  def __call__(self, features):
    """features float32 [batch, 4] -> v = sigmoid(logit) float32 [batch, 1]."""
    return tf.sigmoid(self.logit(features))

  @tf.function(input_signature=[_FEATURES_SPEC])
  def serve(self, features):
    """The serving_default signature: {'v': [batch, 1]}."""
    return {"v": self(features)}


def export_saved_model(model_or_parameters, export_dir):
  """Writes a MentorNet SavedModel to `export_dir` (created or overwritten); returns export_dir.

  `model_or_parameters`: a `build_mentornet` Keras model or a parameter dict. The SavedModel's
  `m(features float32 [batch, 4])` returns v = sigmoid(logit) [batch, 1]; `m.logit` the logit;
  signature `serving_default` maps input `features` to output `v`; every variable is
  non-trainable and `m.mentornet_format_version` marks the layout.
  """
  if isinstance(model_or_parameters, keras.Model):
    parameters = model_parameters(model_or_parameters)
  else:
    parameters = validate_parameters(model_or_parameters)
  module = _ExportedMentorNet(parameters)
  tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
  return export_dir


def _tf1_checkpoint_prefix(path):
  """The TF1 checkpoint at `path` (a prefix, or a directory's latest), or None if there is none."""
  if os.path.isdir(path):
    return tf.train.latest_checkpoint(path)
  if tf.io.gfile.exists(path + ".index"):
    return path
  return None


def read_tf1_checkpoint(checkpoint_path_or_dir):
  """Reads the MentorNet parameters of an original TF1 checkpoint (prefix, or dir -> latest).

  Returns {name: float32 array} (see TF1_CHECKPOINT_NAMES); raises `UsageError` if there is no
  checkpoint or it lacks a MentorNet variable or has one of the wrong shape.
  """
  prefix = _tf1_checkpoint_prefix(checkpoint_path_or_dir)
  if prefix is None:
    raise UsageError(f"no TF1 checkpoint at {checkpoint_path_or_dir}")
  try:
    reader = tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UsageError(f"cannot read TF1 checkpoint {prefix}: {first_line}") from e
  available = reader.get_variable_to_shape_map()
  parameters = {}
  for name, tf1_name in TF1_CHECKPOINT_NAMES.items():
    if tf1_name not in available:
      raise UsageError(f"{prefix} is not a MentorNet checkpoint (no {tf1_name})")
    parameters[name] = reader.get_tensor(tf1_name)
  return validate_parameters(parameters, source=f"TF1 checkpoint {prefix}")


def import_tf1_checkpoint(checkpoint_path_or_dir, export_dir):
  """Converts an original TF1 MentorNet checkpoint to a MentorNet SavedModel; returns export_dir.

  The outputs are identical to the original graph's; the loss moving average
  (mentor_inputs/cumulative) is not part of a MentorNet and starts at 0, as it did in TF1.
  """
  return export_saved_model(read_tf1_checkpoint(checkpoint_path_or_dir), export_dir)


def _load_imported_tf1_checkpoint(checkpoint_path_or_dir):
  """Imports a TF1 checkpoint through a temporary SavedModel and returns the loaded object."""
  parameters = read_tf1_checkpoint(checkpoint_path_or_dir)
  with tempfile.TemporaryDirectory(prefix="mentornet_tf1_import_") as export_dir:
    export_saved_model(parameters, export_dir)
    return tf.saved_model.load(export_dir)


def load_mentornet(path, flag_name="trained_mentornet_dir"):
  """Loads a MentorNet SavedModel after checking it is one (by probing it); returns it.

  The result `m` has `m(features float32 [batch, 4]) -> v [batch, 1]`: the loaded object, or
  a wrapper of its `serving_default` signature when only that takes [batch, 4] features. Any
  SavedModel following that contract loads, whoever made it (see `_check_loaded_mentornet`);
  this package's exports also have `m.logit` and `m.trainable_variables == []`. Call it
  inside a `tf.distribute` strategy scope to get mirrored variables.

  For old command lines, `path` may also be an original TF1 MentorNet checkpoint (a checkpoint
  prefix, or a directory whose `checkpoint` file names the latest one, as `--trained_mentornet_dir`
  took): it is imported on the fly (through a temporary SavedModel, nothing is written next to it)
  and behaves exactly as an imported one. Use `import_tf1_checkpoint` to convert it once.

  Raises `UsageError` with one line `--<flag_name>=<path> <problem>` (or `MentorNet <path> ...`
  when `flag_name` is None) if `path` is missing or is not a MentorNet.
  """
  where = f"--{flag_name}={path}" if flag_name else f"MentorNet {path}"
  if not os.path.exists(path) and not tf.io.gfile.exists(path + ".index"):
    raise UsageError(f"{where} does not exist")
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    if _tf1_checkpoint_prefix(path) is not None:
      try:
        loaded = _load_imported_tf1_checkpoint(path)
      except UsageError as e:
        raise UsageError(f"{where} is neither a MentorNet SavedModel nor a MentorNet TF1 "
                         f"checkpoint: {e}") from e
      logging.info("Imported the TF1 MentorNet checkpoint %s on the fly.", path)
      return loaded
    if os.path.isdir(path):
      raise UsageError(f"{where} is not a MentorNet SavedModel (no saved_model.pb)")
    raise UsageError(f"{where} is not a directory holding a MentorNet SavedModel")
  try:
    loaded = tf.saved_model.load(path)
  except Exception as e:  # corrupt files raise many types
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UsageError(f"{where} is not a readable SavedModel: {first_line}") from e
  return _check_loaded_mentornet(loaded, where)


def _probe_features():
  """float32 [40, 4]: losses 0..20, loss - moving average -10..10, labels 0/1, epochs 0..99."""
  count = 40
  losses = np.linspace(0.0, 20.0, count)
  return np.stack([losses, losses - 10.0, np.arange(count) % NUM_LABELS,
                   np.linspace(0, NUM_EPOCHS - 1, count).round()], axis=1).astype(np.float32)


class _SignatureMentorNet(tf.Module):
  """A SavedModel's single-input, single-output `serving_default` as `m(features) -> v`."""

  def __init__(self, loaded, signature):
    super().__init__(name="mentornet_signature")
    self._loaded = loaded  # Keeps the signature's variables alive.
    self._signature = signature
    self._input_name = next(iter(signature.structured_input_signature[1]))

  def __call__(self, features):
    outputs = self._signature(**{self._input_name: features})
    return next(iter(outputs.values()))


def _signature_call(loaded):
  """`loaded`'s serving_default as a callable, or None unless it maps one input to one output."""
  signature = getattr(loaded, "signatures", {}).get("serving_default")
  if (signature is None or len(signature.structured_input_signature[1]) != 1 or
      len(signature.structured_outputs) != 1):
    return None
  return _SignatureMentorNet(loaded, signature)


def _check_loaded_mentornet(loaded, where):
  """Returns `loaded` (or its serving_default) after probing it as a MentorNet; else UsageError.

  Any SavedModel that maps a probe batch float32 [n, 4] to a finite float [n, 1] in [0, 1],
  through `loaded(features)` or its `serving_default` signature, is one. The format marker is
  optional metadata: only a version newer than this code's is refused.
  """
  marker = getattr(loaded, FORMAT_MARKER, None)
  if marker is not None and int(marker.numpy()) > FORMAT_VERSION:
    raise UsageError(f"{where} has MentorNet format {int(marker.numpy())}; this version reads "
                     f"up to {FORMAT_VERSION} (upgrade mentornet)")
  candidates = [c for c in (loaded if callable(loaded) else None, _signature_call(loaded))
                if c is not None]
  if not candidates:
    raise UsageError(f"{where} is a SavedModel but not a MentorNet: not callable (no __call__ "
                     "and no single-input, single-output serving_default signature)")
  probe = _probe_features()
  # Through the current strategy (the caller may be inside a MirroredStrategy scope, where
  # mirrored variables are read in a replica context).
  strategy = tf.distribute.get_strategy()
  problem = None
  for call in candidates:
    try:
      v = strategy.experimental_local_results(strategy.run(call, args=(tf.constant(probe),)))[0]
    except Exception as e:  # any failure means: not this way
      problem = problem or ("fails on float32 [n, 4] features: " +
                            (str(e).strip().splitlines() or [type(e).__name__])[0][:200])
      continue
    v = tf.convert_to_tensor(v)
    if v.shape != (len(probe), 1) or not v.dtype.is_floating:
      problem = (f"returns {v.dtype.name} {v.shape.as_list()} for float32 [{len(probe)}, "
                 f"{FEATURE_DIM}] features, expected float [{len(probe)}, 1]")
      continue
    values = v.numpy().astype(np.float64)
    if not np.all(np.isfinite(values)):
      problem = "returns non-finite weights (NaN or Inf)"
      continue
    if values.min() < 0.0 or values.max() > 1.0:
      problem = f"returns weights outside [0, 1] (from {values.min():g} to {values.max():g})"
      continue
    return call
  raise UsageError(f"{where} is a SavedModel but not a MentorNet: it {problem}")


def shipped_mentornet_dir(name):
  """Directory of a MentorNet shipped in `mentornet_models` (installed or in the checkout).

  `name` is a curriculum name (`mentornet_pd`, ...) or a path relative to `models/`.
  """
  try:
    import mentornet_models
  except ImportError as e:
    raise UsageError("the shipped MentorNets (package mentornet_models) are not importable: "
                     "install this project (pip install -e .) or put its root on PYTHONPATH"
                     ) from e
  path = mentornet_models.path(name)
  if not os.path.isdir(path):
    raise UsageError(f"shipped MentorNet {name!r} not found at {path}")
  return path
