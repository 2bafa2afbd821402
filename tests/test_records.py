"""The TFRecord format: round trips, the original slim records, CIFAR-100 labels, file listing."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mentornet.config.datasets import get_dataset_info
from mentornet.data import records
from mentornet.errors import UsageError

CIFAR10 = get_dataset_info("cifar10")
CIFAR100 = get_dataset_info("cifar100")


def _random_images(count, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def _write_records(path, serialized_examples):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for serialized in serialized_examples:
      writer.write(serialized)


def test_encode_parse_round_trip_is_bit_exact(tmp_path):
  images = _random_images(12)
  labels, clean = np.arange(12) % 10, (np.arange(12) + 3) % 10
  path = tmp_path / "cifar10_train-00000-of-00001"
  _write_records(path, [records.encode_example(images[i], labels[i], CIFAR10,
                                               clean_label=clean[i], example_id=100 + i)
                        for i in range(12)])
  parsed = records.read_all([str(path)], CIFAR10)
  np.testing.assert_array_equal(parsed["image"], images)
  np.testing.assert_array_equal(parsed["label"], labels)
  np.testing.assert_array_equal(parsed["clean_label"], clean)
  np.testing.assert_array_equal(parsed["id"], 100 + np.arange(12))
  assert parsed["image"].dtype == np.uint8 and parsed["label"].dtype == np.int32
  assert parsed["clean_label"].dtype == np.int32 and parsed["id"].dtype == np.int64


def test_written_features_follow_the_slim_layout():
  serialized = records.encode_example(_random_images(1)[0], 4, "cifar10", clean_label=2,
                                      example_id=9)
  feature = tf.train.Example.FromString(serialized).features.feature
  assert feature["image/format"].bytes_list.value == [b"png"]
  assert feature["image/encoded"].bytes_list.value[0].startswith(b"\x89PNG")
  assert feature["image/height"].int64_list.value == [32]
  assert feature["image/width"].int64_list.value == [32]
  assert feature["image/class/label"].int64_list.value == [4]
  assert feature["image/class/clean_label"].int64_list.value == [2]
  assert feature["image/id"].int64_list.value == [9]


def test_original_slim_record_parses_with_missing_clean_label_and_id(tmp_path):
  image = _random_images(1, seed=3)[0]
  example = tf.train.Example(features=tf.train.Features(feature={
      "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[tf.io.encode_png(image).numpy()])),
      "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"])),
      "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[7])),
  }))
  path = tmp_path / "cifar10_test-00000-of-00001"
  _write_records(path, [example.SerializeToString()])
  # Graph mode, as the input pipelines use it.
  dataset = tf.data.TFRecordDataset([str(path)]).map(
      lambda serialized: records.parse_example(serialized, CIFAR10))
  assert dataset.element_spec["image"].shape == (32, 32, 3)
  assert dataset.element_spec["label"].shape == ()
  parsed = next(dataset.as_numpy_iterator())
  np.testing.assert_array_equal(parsed["image"], image)
  assert parsed["label"] == 7 and parsed["clean_label"] == -1 and parsed["id"] == -1


def test_wrong_image_size_fails_loudly(tmp_path):
  serialized = records.encode_example(np.zeros([28, 28, 3], np.uint8), 1, CIFAR10)
  with pytest.raises(tf.errors.InvalidArgumentError):
    records.parse_example(tf.constant(serialized), CIFAR10)


def test_cifar100_fine_and_coarse_labels(tmp_path):
  images = _random_images(4, seed=5)
  fine, coarse = np.array([0, 55, 99, 13]), np.array([4, 19, 0, 7])
  serialized = [records.encode_example(images[i], fine[i], CIFAR100, coarse_label=coarse[i],
                                       clean_label=fine[i], example_id=i) for i in range(4)]
  feature = tf.train.Example.FromString(serialized[1]).features.feature
  assert feature["image/class/fine_label"].int64_list.value == [55]
  assert feature["image/class/coarse_label"].int64_list.value == [19]
  assert "image/class/label" not in feature
  path = tmp_path / "cifar100_train-00000-of-00001"
  _write_records(path, serialized)
  parsed = records.read_all([str(path)], CIFAR100)
  np.testing.assert_array_equal(parsed["label"], fine)
  np.testing.assert_array_equal(parsed["coarse_label"], coarse)
  np.testing.assert_array_equal(parsed["image"], images)
  # A CIFAR-10 record lacks the fine label: reading it as CIFAR-100 is an error, not label 0.
  cifar10_path = tmp_path / "cifar10.tfrecord"
  _write_records(cifar10_path, [records.encode_example(images[0], 3, CIFAR10)])
  with pytest.raises(tf.errors.InvalidArgumentError, match="fine_label"):
    records.read_all([str(cifar10_path)], CIFAR100)
  with pytest.raises(ValueError, match="coarse"):
    records.encode_example(images[0], 3, CIFAR10, coarse_label=1)


def test_write_shards_names_order_and_count(tmp_path):
  images = _random_images(25, seed=9)
  labels = np.arange(25) % 10
  shards = records.write_shards(str(tmp_path), "cifar10", "train",
                                {"image": images, "label": labels, "id": np.arange(25)}, 4)
  names = [os.path.basename(shard.path) for shard in shards]
  assert names == [f"cifar10_train-0000{i}-of-00004" for i in range(4)]
  assert sum(shard.num_examples for shard in shards) == 25
  files = records.list_record_files(str(tmp_path), "cifar10", "train")
  assert files == [shard.path for shard in shards]
  assert records.count_examples(files) == 25
  parsed = records.read_all(files, CIFAR10)
  np.testing.assert_array_equal(parsed["id"], np.arange(25))
  np.testing.assert_array_equal(parsed["image"], images)
  assert np.all(parsed["clean_label"] == -1)
  # Fewer examples than shards: no empty files.
  few = records.write_shards(str(tmp_path / "few"), "cifar10", "test",
                             {"image": images[:2], "label": labels[:2]}, 10)
  assert [shard.num_examples for shard in few] == [1, 1]


def test_count_examples_uses_a_matching_manifest_only(tmp_path):
  shards = records.write_shards(str(tmp_path), "cifar10", "train",
                                {"image": _random_images(6), "label": np.zeros(6, int)}, 2)
  names = [os.path.basename(shard.path) for shard in shards]
  file_info = {name: {"num_examples": 1000, "num_bytes": os.path.getsize(shard.path)}
               for name, shard in zip(names, shards)}
  (tmp_path / "manifest.json").write_text(json.dumps({"file_info": file_info}))
  files = [shard.path for shard in shards]
  assert records.count_examples(files) == 2000  # Trusted: names and sizes match.
  file_info[names[0]]["num_bytes"] += 1  # Stale entry: that file is counted by reading it.
  (tmp_path / "manifest.json").write_text(json.dumps({"file_info": file_info}))
  assert records.count_examples(files) == 1000 + 3


def test_list_record_files_error_is_one_line(tmp_path):
  with pytest.raises(UsageError) as missing:
    records.list_record_files(str(tmp_path / "nowhere"), "cifar10", "train")
  message = str(missing.value)
  assert message.startswith(f"--data_dir={tmp_path / 'nowhere'} has no files matching "
                            f"cifar10_train-*")
  assert "\n" not in message
  (tmp_path / "0.4").mkdir()
  (tmp_path / "0.4" / "cifar10_train-00000-of-00001").write_bytes(b"")
  with pytest.raises(UsageError, match=r"has no files matching cifar10_train-\* .*0\.4"):
    records.list_record_files(str(tmp_path), "cifar10", "train")
  assert records.record_file_pattern("d", "cifar100", "test") == os.path.join(
      "d", "cifar100_test-*")
