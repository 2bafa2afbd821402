"""Training: the trainer, fit loop, callbacks, checkpoints and distribution."""
