"""The Keras API: `CurriculumModel` over the one trainer, curricula objects, `find_label_issues`,
callbacks, a strategy scope, and the errors of bad use."""
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import subprocess_env
import mentornet
from mentornet.curricula import base as curriculum_lib
from mentornet.curricula import mentormix
from mentornet.errors import UsageError
from mentornet.keras_api import curricula
from mentornet.models import mentornet_net
from mentornet.models import studentnets
from mentornet.training import trainer as trainer_lib


def _tabular(n=96, classes=3, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 6)).astype(np.float32)
  y = np.digitize(x[:, 0] + 0.3 * x[:, 1], [-0.5, 0.5]).astype(np.int64)
  return x, y


def _mlp(classes=3):
  keras.utils.set_random_seed(1)
  return keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                           keras.layers.Dense(classes)])


def test_import_mentornet_stays_light():
  code = ("import sys, mentornet; assert 'tensorflow' not in sys.modules; "
          "assert 'CurriculumModel' in dir(mentornet)")
  subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env())


@pytest.mark.parametrize("curriculum", ["mentornet_pd", "mentormix", "data_parameters", "none"])
def test_tabular_model_trains_and_gets_a_label_issue_table(curriculum, tmp_path):
  x, y = _tabular()
  model = _mlp()
  learner = mentornet.CurriculumModel(model, curriculum=curriculum)
  learner.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
  onehot = keras.utils.to_categorical(y, 3)  # one-hot labels, as a directory dataset gives
  history = learner.fit(x, onehot, epochs=2, batch_size=32, validation_data=(x, y), verbose=0)
  assert learner.max_steps == 2 * 3  # epochs x steps per epoch, no user steps
  assert int(learner.optimizer.iterations.numpy()) == 6
  assert np.isfinite(history.history["loss"]).all() and "val_accuracy" in history.history
  issues = mentornet.find_label_issues(learner, x, onehot)
  assert set(issues) == {"index", "given", "suggested", "trust", "suspicion", "rank",
                         "is_issue", "ranking", "estimated_noise_rate"}
  np.testing.assert_array_equal(issues["index"], np.arange(len(x)))
  np.testing.assert_array_equal(issues["given"], y)
  np.testing.assert_array_equal(issues["suggested"], np.argmax(model.predict(x, verbose=0), 1))
  assert sorted(issues["rank"]) == list(range(1, len(x) + 1))
  # The training data: ranked by the early area under the margin the train step accumulated
  # (6 steps of 32 over 96 examples: the first 3 steps saw every one once).
  assert issues["ranking"] == "early_aum"
  sums = learner.dynamics.statistics()
  np.testing.assert_array_equal(sums["early_count"], np.ones(len(x)))
  np.testing.assert_array_equal(sums["count"], np.full(len(x), 2.0))
  np.testing.assert_allclose(issues["suspicion"], -sums["early_sum_margin"], rtol=1e-6)
  assert np.all(np.diff(issues["suspicion"][np.argsort(issues["rank"])]) <= 0)
  flagged = round(issues["estimated_noise_rate"] * len(x))
  assert issues["is_issue"].sum() == flagged
  assert np.all(issues["rank"][issues["is_issue"]] <= flagged)
  # Other examples than the training data have no dynamics: ranked by the final trust.
  other = mentornet.find_label_issues(learner, x[:40], y[:40])
  assert other["ranking"] == "final_trust"
  np.testing.assert_array_equal(np.argsort(other["rank"]),
                                np.lexsort((other["index"], -other["suspicion"])))
  # The user's model is a plain Keras model again: saved and loaded without MentorNet.
  model.save(tmp_path / "m.keras")
  loaded = keras.saving.load_model(tmp_path / "m.keras")
  np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                             rtol=1e-5, atol=1e-5)


def test_dataset_input_numbers_examples_in_first_pass_order():
  x, y = _tabular(40)
  dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
  learner = mentornet.CurriculumModel(_mlp(), curriculum=mentornet.DataParameters())
  learner.compile(optimizer="sgd")
  learner.fit(dataset, epochs=1, verbose=0)
  assert learner.max_steps == 5  # the dataset's own batch size, 8
  assert learner.curriculum.num_examples == 40
  issues = mentornet.find_label_issues(learner, dataset)
  np.testing.assert_array_equal(issues["given"], y)
  sigma = learner.curriculum.sigmas()["inst"]
  np.testing.assert_allclose(issues["trust"], -sigma, rtol=1e-6)


def _tiny_resnet():
  return studentnets.build_resnet(
      10, studentnets.StudentNetConfig(1, (4, 4, 8, 8), sync_batch_norm=False))


def test_same_v_and_loss_as_the_cifar_trainer_for_one_batch():
  rng = np.random.default_rng(0)
  images = rng.normal(size=(16, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 10, 16).astype(np.int64)
  keras.utils.set_random_seed(3)
  cifar_student = _tiny_resnet()
  api_student = _tiny_resnet()
  api_student.set_weights(cifar_student.get_weights())
  settings = curricula.MentorNet("mentornet_pd").settings()
  mentornet_dir = mentornet_net.shipped_mentornet_dir("mentornet_pd")
  cifar_curriculum = curriculum_lib.MentorNetCurriculum(
      mentornet_net.load_mentornet(mentornet_dir), loss_p_percentile=0.7,
      example_dropout_rates=curriculum_lib.parse_example_dropout_rates(
          settings["example_dropout_rates"]))
  recorded = {}

  def recording(curriculum, key):
    original = curriculum.example_weights

    def example_weights(losses, labels, features, step_info):
      v, logs = original(losses, labels, features, step_info)
      recorded[key] = (v, losses)
      return v, dict(logs, v=v, losses=losses)
    curriculum.example_weights = example_weights

  # The CIFAR scripts' trainer on the TFRecord pipeline's features, one step of a 1-step run.
  cifar = trainer_lib.StudentTrainer(cifar_student, cifar_curriculum, max_steps=1)
  recording(cifar_curriculum, "cifar")
  cifar.compile(optimizer=keras.optimizers.SGD(0.1))
  cifar.optimizer.build(cifar_student.trainable_variables)
  features = {"image": images, "id": np.arange(16, dtype=np.int64)}
  cifar_logs = cifar.fit(tf.data.Dataset.from_tensors((features, labels)), epochs=1,
                         verbose=0).history
  # The API on the same arrays: one epoch of one batch.
  learner = mentornet.CurriculumModel(api_student, curriculum="mentornet_pd")
  recording(learner.curriculum, "api")
  learner.compile(optimizer=keras.optimizers.SGD(0.1))
  api_logs = learner.fit(images, labels, batch_size=16, epochs=1, shuffle=False,
                         verbose=0).history
  assert learner.max_steps == 1
  for name in ("v", "losses", "orig_loss", "weighted_loss", "total_loss", "batch_sum_v",
               "percentile_loss", "loss_moving_average"):
    np.testing.assert_allclose(np.asarray(api_logs[name]), np.asarray(cifar_logs[name]),
                               rtol=1e-5, atol=1e-6, err_msg=name)
  assert 0 < api_logs["batch_sum_v"][0] < 16  # dropout 0.5 at epoch 0: some v are 0
  for a, b in zip(api_student.get_weights(), cifar_student.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_callbacks_backup_and_restore_resumes_with_curriculum_state(tmp_path):
  x, y = _tabular(64)
  learner = mentornet.CurriculumModel(_mlp(), curriculum="mentornet_pd")
  learner.compile(optimizer=keras.optimizers.SGD(0.05))

  class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      if epoch == 1:
        self.model.saved_average = float(self.model.curriculum.loss_moving_average.numpy())
        raise RuntimeError("interrupted")

  backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
  with pytest.raises(RuntimeError, match="interrupted"):
    learner.fit(x, y, epochs=4, batch_size=32, callbacks=[backup, Interrupt()], verbose=0)

  learner2 = mentornet.CurriculumModel(_mlp(), curriculum="mentornet_pd")
  learner2.compile(optimizer=keras.optimizers.SGD(0.05))
  seen = {}

  class AtStart(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
      seen.setdefault("epoch", epoch)
      seen.setdefault("average", float(self.model.curriculum.loss_moving_average.numpy()))
      seen.setdefault("step", int(self.model.optimizer.iterations.numpy()))

  checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.weights.h5"),
                                               save_weights_only=True)
  whole = keras.callbacks.ModelCheckpoint(str(tmp_path / "learner.keras"))
  board = keras.callbacks.TensorBoard(str(tmp_path / "board"))
  history = learner2.fit(x, y, epochs=4, batch_size=32, verbose=0,
                         callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
                                    AtStart(), checkpoint, whole, board])
  assert seen == {"epoch": 2, "average": pytest.approx(learner.saved_average), "step": 4}
  assert len(history.history["loss"]) == 2 and learner2.optimizer.iterations.numpy() == 8
  assert (tmp_path / "ckpt.weights.h5").exists() and (tmp_path / "board").is_dir()
  restored = keras.saving.load_model(tmp_path / "learner.keras")
  assert isinstance(restored, mentornet.CurriculumModel)
  assert restored.curriculum_spec == curricula.MentorNet("mentornet_pd")
  np.testing.assert_allclose(restored.curriculum.loss_moving_average.numpy(),
                             learner2.curriculum.loss_moving_average.numpy())
  np.testing.assert_allclose(restored.predict(x, verbose=0), learner2.predict(x, verbose=0),
                             rtol=1e-5, atol=1e-6)


def test_trains_inside_a_distribution_strategy_scope():
  x, y = _tabular(64)
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  with strategy.scope():
    model = _mlp()
    learner = mentornet.CurriculumModel(model, curriculum="mentornet_pd")
    learner.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
  history = learner.fit(x, y, epochs=2, batch_size=16, verbose=0)
  assert np.isfinite(history.history["loss"]).all()
  assert mentornet.find_label_issues(learner, x, y)["rank"].shape == (64,)


def test_curricula_by_name_path_or_object_take_documented_defaults():
  pd = curricula.MentorNet("mentornet_pd").settings()
  assert (pd["loss_p_percentile"], pd["example_dropout_rates"], pd["burn_in_epoch"]) == (
      0.7, "0.5,17,0.05,83", 0)
  dd = curricula.resolve_curriculum("mentornet_dd").settings()
  assert (dd["burn_in_epoch"], dd["fixed_epoch_after_burn_in"]) == (18, True)
  path = mentornet_net.shipped_mentornet_dir("self_paced/self_paced_mentornet")
  learner = mentornet.CurriculumModel(_mlp(), curriculum=path)
  assert isinstance(learner.curriculum, curriculum_lib.MentorNetCurriculum)
  assert learner.curriculum_settings["example_dropout_rates"] == "0.5,17,0.05,78,1.0,5"
  assert isinstance(mentornet.CurriculumModel(_mlp(), curriculum=None).curriculum,
                    curriculum_lib.NoCurriculum)
  # MentorMix: the authors' CIFAR-10 command at 40% noise, p for an unknown noise rate.
  mix = mentornet.CurriculumModel(_mlp(), curriculum="mentormix")
  assert isinstance(mix.curriculum, mentormix.MentorMixCurriculum)
  settings = mix.curriculum_settings
  assert (settings["mixup_alpha"], settings["second_reweight"], settings["burn_in_epoch"],
          settings["loss_p_percentile"], settings["batch_norm_statistics"]) == (
              8.0, False, 10, 0.7, "unmixed")
  assert settings["trained_mentornet_dir"].endswith("mentornet_pd1_g_1/mentornet_pd")
  assert mentornet.MentorMix(mixup_alpha=2, batch_norm_statistics="mixed").settings()[
      "batch_norm_statistics"] == "mixed"
  settings = mentornet.DataParameters(learn_class_parameters=True,
                                      extra={"init_inst_param": 0.01}).settings()
  assert settings["init_inst_param"] == 0.01 and settings["lr_inst_param"] == 0.2


TWO_REPLICAS_SCRIPT = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
import keras, mentornet
rng = np.random.default_rng(0)
x = rng.normal(size=(70, 6)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())
with strategy.scope():
  model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(2)])
  learner = mentornet.CurriculumModel(model, curriculum="data_parameters")
  learner.compile(optimizer=keras.optimizers.SGD(0.1))
history = learner.fit(x, y, epochs=2, batch_size=16, verbose=0)  # last batch of 6: 3 + 3
assert learner.distribute_strategy.num_replicas_in_sync == 2
assert np.isfinite(history.history["loss"]).all(), history.history
issues = mentornet.find_label_issues(learner, x, y)
assert sorted(issues["rank"]) == list(range(1, 71))
print("ok")
"""


def test_trains_on_two_replicas():
  result = subprocess.run([sys.executable, "-c", TWO_REPLICAS_SCRIPT], capture_output=True,
                          text=True, env=subprocess_env(), check=False)
  assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_bad_use_is_one_clear_error():
  x, y = _tabular(32)
  with pytest.raises(UsageError, match="unknown curriculum 'mentornet_xx'"):
    mentornet.CurriculumModel(_mlp(), curriculum="mentornet_xx")
  with pytest.raises(UsageError, match=r"loss_p_percentile=1.5 is outside"):
    mentornet.CurriculumModel(_mlp(), curriculum=mentornet.MentorNet(loss_p_percentile=1.5))
  with pytest.raises(UsageError, match=r"--mixup_alpha=-1.0 must be a finite number >= 0"):
    mentornet.CurriculumModel(_mlp(), curriculum=mentornet.MentorMix(mixup_alpha=-1.0))
  with pytest.raises(UsageError, match="'nowhere' is neither a shipped MentorNet"):
    mentornet.CurriculumModel(_mlp(), curriculum=mentornet.MentorMix(mentornet="nowhere"))
  tokens = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 4),
                             keras.layers.Flatten(), keras.layers.Dense(3)])
  mixing = mentornet.CurriculumModel(tokens, curriculum="mentormix")
  mixing.compile(optimizer="sgd")
  with pytest.raises(UsageError, match="needs float \\(or uint8 image\\) inputs, not int32"):
    mixing.fit(np.zeros((32, 4), np.int32), y, epochs=1, verbose=0)
  learner = mentornet.CurriculumModel(_mlp(), curriculum="none")
  with pytest.raises(UsageError, match="without loss="):
    learner.compile(optimizer="sgd", loss="mse")
  flat = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1), keras.layers.Flatten(),
                           keras.layers.Reshape(())])
  bad = mentornet.CurriculumModel(flat, curriculum="none")
  bad.compile(optimizer="sgd")
  with pytest.raises(UsageError, match=r"outputs shape \[2\]; a classifier must output logits "
                     r"\[batch, classes\]"):
    bad.fit(x, y, epochs=1, verbose=0)
  learner.compile(optimizer="sgd")
  with pytest.raises(UsageError, match="labels go up to 5 but the model outputs 3 classes"):
    learner.fit(x, np.full(32, 5), epochs=1, verbose=0)
  with pytest.raises(UsageError, match="x holds"):
    learner.fit(x, y[:5], epochs=1, verbose=0)
  with pytest.raises(UsageError, match="call fit first"):
    mentornet.find_label_issues(learner, x, y)
