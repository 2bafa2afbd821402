"""Data: record format, label noise, builders and tf.data pipelines."""
