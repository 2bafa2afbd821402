"""MentorNet network: TF1 checkpoint import, SavedModel contract, Keras model, LSTM equivalence."""
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from mentornet.errors import UsageError
from mentornet.models import mentornet_net

CODE_DIR = pathlib.Path(__file__).resolve().parents[1] / "code"

# The original graph's variables, by the names its checkpoints use, with their shapes.
TF1_SHAPES = {
    "mentornet/label_embedding": (2, 2),
    "mentornet/epoch_embedding": (100, 5),
    "mentornet/bidirectional_rnn/fw/basic_lstm_cell/kernel": (3, 4),
    "mentornet/bidirectional_rnn/fw/basic_lstm_cell/bias": (4,),
    "mentornet/bidirectional_rnn/bw/basic_lstm_cell/kernel": (3, 4),
    "mentornet/bidirectional_rnn/bw/basic_lstm_cell/bias": (4,),
    "mentornet/Variable": (9, 20),
    "mentornet/Variable_1": (20,),
    "mentornet/Variable_2": (20, 1),
    "mentornet/Variable_3": (1,),
}


def write_tf1_checkpoint(directory, values, global_step=1000):
  """Saves {name: array} as TF1 variables with tf.compat.v1.train.Saver; returns the prefix."""
  graph = tf.Graph()
  with graph.as_default():
    for name, value in values.items():
      tf.compat.v1.get_variable(name, initializer=tf.constant(value))
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(tf.compat.v1.global_variables_initializer())
      return saver.save(session, os.path.join(directory, "model.ckpt"), global_step=global_step)


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def reference_v(tf1_values, features):
  """The original mentornet_nn in float64 NumPy: features [n, 4] -> v [n, 1]."""
  p = {name: value.astype(np.float64) for name, value in tf1_values.items()}
  x = features.astype(np.float64)
  labels = x[:, 2].astype(np.int64)
  epochs = np.minimum(x[:, 3].astype(np.int64), 99)

  def final_cell_state(direction):
    scope = f"mentornet/bidirectional_rnn/{direction}/basic_lstm_cell/"
    h0 = np.zeros((len(x), 1))
    c0 = np.zeros((len(x), 1))
    lstm_input = np.concatenate([x[:, 0:1], x[:, 1:2], h0], axis=1)  # [loss, diff, h]
    gates = lstm_input @ p[scope + "kernel"] + p[scope + "bias"]
    i, j, f = gates[:, 0:1], gates[:, 1:2], gates[:, 2:3]
    return c0 * sigmoid(f + 0.0) + sigmoid(i) * np.tanh(j)  # state c, not h = tanh(c) * sig(o)

  feat = np.concatenate([
      p["mentornet/label_embedding"][labels], p["mentornet/epoch_embedding"][epochs],
      final_cell_state("fw"), final_cell_state("bw")], axis=1)
  fc1 = np.tanh(feat @ p["mentornet/Variable"] + p["mentornet/Variable_1"])
  out = fc1 @ (p["mentornet/Variable_2"] + p["mentornet/Variable_3"])  # bias INTO the weight
  return sigmoid(out)


@pytest.fixture(scope="module")
def tf1_values():
  rng = np.random.default_rng(7)
  return {name: rng.normal(size=shape).astype(np.float32) for name, shape in TF1_SHAPES.items()}


@pytest.fixture(scope="module")
def features():
  """[64, 4]: loss in [0, 30], diff in [-5, 5], label 0 (a few 1), epochs 0..99 incl. both ends."""
  rng = np.random.default_rng(11)
  n = 64
  epochs = rng.integers(0, 100, size=n)
  epochs[:2] = [0, 99]
  labels = (np.arange(n) % 8 == 7).astype(np.int64)
  return np.stack([rng.uniform(0, 30, n), rng.uniform(-5, 5, n), labels, epochs],
                  axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def tf1_checkpoint_dir(tmp_path_factory, tf1_values):
  directory = tmp_path_factory.mktemp("tf1_mentornet")
  extras = {"mentor_inputs/cumulative": np.float32(3.5), "global_step": np.int64(1000)}
  write_tf1_checkpoint(str(directory), {**tf1_values, **extras})
  return directory


@pytest.fixture(scope="module")
def imported_dir(tmp_path_factory, tf1_checkpoint_dir):
  export_dir = str(tmp_path_factory.mktemp("imported") / "mentornet")
  return mentornet_net.import_tf1_checkpoint(str(tf1_checkpoint_dir), export_dir)


@pytest.fixture(scope="module")
def loaded(imported_dir):
  return tf.saved_model.load(imported_dir)


def test_imported_checkpoint_matches_the_original_math(loaded, tf1_values, features):
  v = loaded(tf.constant(features)).numpy()
  assert v.shape == (len(features), 1) and v.dtype == np.float32
  assert np.all((v >= 0) & (v <= 1))
  np.testing.assert_allclose(v, reference_v(tf1_values, features), rtol=0, atol=1e-6)


def test_serving_default_signature(loaded, tf1_values, features):
  serving = loaded.signatures["serving_default"]
  _, input_specs = serving.structured_input_signature
  assert input_specs == {"features": tf.TensorSpec([None, 4], tf.float32, name="features")}
  outputs = serving(features=tf.constant(features))
  assert list(outputs) == ["v"]
  np.testing.assert_allclose(outputs["v"].numpy(), reference_v(tf1_values, features), atol=1e-6)


def test_loaded_mentornet_has_no_trainable_variables(loaded, imported_dir):
  assert loaded.trainable_variables == []
  assert len(loaded.variables) == 11  # 10 parameters + the format marker
  assert not any(variable.trainable for variable in loaded.variables)
  assert int(loaded.mentornet_format_version.numpy()) == mentornet_net.FORMAT_VERSION
  assert mentornet_net.load_mentornet(imported_dir).trainable_variables == []


def test_loaded_mentornet_in_a_jit_compiled_step(loaded, tf1_values, features):
  @tf.function(jit_compile=True)
  def weighted_loss(x):
    v = tf.stop_gradient(loaded(x))
    return v, tf.reduce_mean(x[:, 0:1] * v)

  v, loss = weighted_loss(tf.constant(features))
  expected = reference_v(tf1_values, features)
  np.testing.assert_allclose(v.numpy(), expected, atol=1e-6)
  np.testing.assert_allclose(loss.numpy(), np.mean(features[:, 0:1] * expected), rtol=1e-5)


# One subprocess (TF must see 2 logical CPUs before it initializes) for two checks: the import
# CLI's main converts the TF1 checkpoint, and the result (and the TF1 checkpoint imported on the
# fly) loads and runs under MirroredStrategy.
# The replica step is not jit-compiled: with logical CPU devices XLA runs every replica on CPU:0
# and rejects ANY mirrored variable ("Trying to access resource .../replica_1 ... from device
# CPU:0", also for a plain tf.Variable), a TF limitation unrelated to MentorNet.
CLI_AND_MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    code_dir, checkpoint_dir, export_dir, data_path = sys.argv[1:]
    sys.path.insert(0, code_dir)
    from absl import flags
    from mentornet.cli import import_mentornet_checkpoint as cli
    from mentornet.models import mentornet_net
    cli.define_flags()
    argv = ["import_checkpoint", f"--checkpoint={checkpoint_dir}", f"--export_dir={export_dir}"]
    flags.FLAGS(argv)
    cli.main(argv[:1])

    data = np.load(data_path)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
      mentornet = mentornet_net.load_mentornet(export_dir)
      imported_on_the_fly = mentornet_net.load_mentornet(checkpoint_dir)
    for loaded in (mentornet, imported_on_the_fly):
      assert loaded.trainable_variables == []
      assert all(strategy.extended.variable_created_in_scope(v) for v in loaded.variables)
    halves = np.split(data["features"], 2)
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(halves[context.replica_id_in_sync_group]))

    @tf.function
    def step(x):
      return strategy.run(lambda x: tf.stop_gradient(mentornet(x)), args=(x,))

    results = strategy.experimental_local_results(step(per_replica))
    v = np.concatenate([r.numpy() for r in results])
    np.testing.assert_allclose(v, data["expected"], atol=1e-6)
    np.testing.assert_allclose(imported_on_the_fly(data["features"]), data["expected"], atol=1e-6)
    print("replicas", len(results))
""")


def test_cli_import_then_load_under_mirrored_strategy_with_two_cpus(
    tmp_path, tf1_checkpoint_dir, tf1_values, features):
  data_path = tmp_path / "data.npz"
  np.savez(data_path, features=features, expected=reference_v(tf1_values, features))
  export_dir = tmp_path / "cli_export"
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
  result = subprocess.run(
      [sys.executable, "-c", CLI_AND_MIRRORED_SCRIPT, str(CODE_DIR), str(tf1_checkpoint_dir),
       str(export_dir), str(data_path)],
      capture_output=True, text=True, env=env, timeout=240, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Wrote the MentorNet SavedModel" in result.stdout
  assert "replicas 2" in result.stdout
  assert (export_dir / "saved_model.pb").exists()


def test_load_mentornet_takes_a_tf1_checkpoint_dir_or_prefix(tf1_checkpoint_dir, tf1_values,
                                                             features):
  prefix = tf.train.latest_checkpoint(str(tf1_checkpoint_dir))
  expected = reference_v(tf1_values, features)
  for path in (str(tf1_checkpoint_dir), prefix):
    mentornet = mentornet_net.load_mentornet(path)
    assert mentornet.trainable_variables == []
    np.testing.assert_allclose(mentornet(tf.constant(features)).numpy(), expected, atol=1e-6)


def assert_one_line_usage_error(path, problem):
  with pytest.raises(UsageError) as info:
    mentornet_net.load_mentornet(str(path))
  message = str(info.value)
  assert "\n" not in message
  assert message.startswith(f"--trained_mentornet_dir={path} ")
  assert problem in message


def test_load_mentornet_rejects_what_is_not_a_mentornet(tmp_path):
  assert_one_line_usage_error(tmp_path / "missing", "does not exist")
  (tmp_path / "empty").mkdir()
  assert_one_line_usage_error(tmp_path / "empty",
                              "is not a MentorNet SavedModel (no saved_model.pb)")

  def save_module(name, fn, signature=True):
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.__call__ = tf.function(lambda x: fn(x, module.scale),
                                  input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / name),
                        signatures=module.__call__ if signature else None)
    return tmp_path / name

  assert_one_line_usage_error(save_module("wide", lambda x, s: x * s),
                              "returns float32 [40, 4] for float32 [40, 4] features, expected "
                              "float [40, 1]")
  assert_one_line_usage_error(save_module("big", lambda x, s: x[:, :1] * s),
                              "returns weights outside [0, 1] (from 0 to 40)")
  assert_one_line_usage_error(save_module("nan", lambda x, s: tf.sigmoid(x[:, :1]) * np.nan),
                              "non-finite")
  no_call = tf.Module()
  no_call.scale = tf.Variable(1.0)
  tf.saved_model.save(no_call, str(tmp_path / "no_call"))
  assert_one_line_usage_error(tmp_path / "no_call", "not callable")

  (tmp_path / "studentnet").mkdir()
  write_tf1_checkpoint(str(tmp_path / "studentnet"), {"resnet/conv/kernel": np.ones([3, 3])})
  assert_one_line_usage_error(tmp_path / "studentnet", "(no mentornet/label_embedding)")


def test_keras_model_with_tf1_parameters_matches_the_original_math(tf1_values, features):
  model = mentornet_net.build_mentornet(seed=0)
  names = mentornet_net.TF1_CHECKPOINT_NAMES
  mentornet_net.assign_parameters(model, {name: tf1_values[names[name]] for name in names})
  np.testing.assert_allclose(mentornet_net.mentornet_weights(model, features).numpy(),
                             reference_v(tf1_values, features), atol=1e-6)
  assert [w.path for w in model.non_trainable_weights] == ["epoch_embedding/embeddings"]
  assert len(model.trainable_weights) == 9


def test_keras_model_export_load_round_trip(tmp_path, features):
  model = mentornet_net.build_mentornet(seed=3)
  export_dir = mentornet_net.export_saved_model(model, str(tmp_path / "exported"))
  mentornet = mentornet_net.load_mentornet(export_dir)
  expected = tf.sigmoid(model(features)).numpy()
  np.testing.assert_allclose(mentornet(tf.constant(features)).numpy(), expected, atol=1e-6)
  np.testing.assert_allclose(mentornet.logit(tf.constant(features)).numpy(),
                             model(features).numpy(), rtol=1e-5, atol=1e-5)


def test_build_mentornet_is_seeded():
  def epoch_embedding(seed):
    return mentornet_net.model_parameters(mentornet_net.build_mentornet(seed))["epoch_embedding"]

  np.testing.assert_array_equal(epoch_embedding(0), epoch_embedding(0))
  assert not np.allclose(epoch_embedding(0), epoch_embedding(1))


def test_final_cell_state_equals_keras_bidirectional_lstm_cell_states():
  """TF1 (i, j, f, o) weights, reordered to Keras (i, f, c, o), give Keras' cell states c."""
  rng = np.random.default_rng(3)
  x = rng.normal(scale=2.0, size=(16, 2)).astype(np.float32)
  tf1_weights = {direction: (rng.normal(size=(3, 4)).astype(np.float32),
                             rng.normal(size=(4,)).astype(np.float32))
                 for direction in ("fw", "bw")}
  bidirectional = keras.layers.Bidirectional(
      keras.layers.LSTM(1, return_state=True, unit_forget_bias=False))
  bidirectional.build((None, 1, 2))
  for direction, layer in (("fw", bidirectional.forward_layer),
                           ("bw", bidirectional.backward_layer)):
    layer.set_weights(mentornet_net.tf1_lstm_to_keras_lstm_weights(*tf1_weights[direction]))
  _, fw_h, fw_c, _, bw_c = [t.numpy() for t in bidirectional(x[:, None, :])]

  for direction, keras_c in (("fw", fw_c), ("bw", bw_c)):
    kernel, bias = tf1_weights[direction]
    cell_state = mentornet_net.LSTMFinalCellState(1)
    cell_state.build((None, 2))
    cell_state.kernel.assign(kernel)
    cell_state.bias.assign(bias)
    np.testing.assert_allclose(cell_state(x).numpy(), keras_c, atol=1e-6)
  assert not np.allclose(fw_h, fw_c, atol=1e-3)  # the original's feature is c, which is not h

  # Without the reorder (TF1 columns taken as Keras gates) the states differ.
  kernel, bias = tf1_weights["fw"]
  bidirectional.forward_layer.set_weights([kernel[:2], kernel[2:], bias])
  assert not np.allclose(bidirectional(x[:, None, :])[2].numpy(), fw_c, atol=1e-3)


class HandWrittenMentorNet(tf.Module):
  """A MentorNet made without this package: v = sigmoid(w * (moving average - loss)).

  Follows only the README contract (float32 [batch, 4] -> v [batch, 1] in [0, 1])."""

  def __init__(self, sharpness=2.0):
    super().__init__()
    self.sharpness = tf.Variable(sharpness, trainable=False)

  @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
  def __call__(self, x):
    return tf.sigmoid(-self.sharpness * x[:, 1:2])


def save_hand_written_mentornet(path, serving_only=False):
  """Saves `HandWrittenMentorNet` with a serving_default signature (input `x`); returns v of
  the probe-like `features` fixture's formula for checking."""
  module = HandWrittenMentorNet()
  if serving_only:  # Only the signature, with another input and output name.
    serve = tf.function(lambda inputs: {"weight": module(inputs)},
                        input_signature=[tf.TensorSpec([None, 4], tf.float32, name="inputs")])
    holder = tf.Module()
    holder.net = module
    tf.saved_model.save(holder, str(path), signatures={"serving_default": serve})
  else:
    tf.saved_model.save(module, str(path), signatures=module.__call__)
  return path


@pytest.mark.parametrize("serving_only", [False, True])
def test_a_mentornet_made_elsewhere_loads_by_behaviour(tmp_path, features, serving_only):
  path = save_hand_written_mentornet(tmp_path / "hand", serving_only=serving_only)
  mentornet = mentornet_net.load_mentornet(str(path))
  v = mentornet(tf.constant(features)).numpy()
  np.testing.assert_allclose(v, 1.0 / (1.0 + np.exp(2.0 * features[:, 1:2])), rtol=1e-5)
