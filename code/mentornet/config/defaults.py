"""The original's defaults and the project's own, each defined once; every layer reads them here.

Standard library only, so that any tool (flags, shell-free command runners, docs) can read them.
"""

# --max_number_of_steps of the original ResNet commands (about 100 epochs of 50k images at 128).
ORIGINAL_RESNET_STEPS = 39000
# The piecewise-constant learning-rate schedule of the ResNet + MentorNet runs: global steps of
# the 10x drops (50%, 64% and 77% of ORIGINAL_RESNET_STEPS) and the multipliers between them.
RESNET_MENTORNET_BOUNDARIES = (19531, 25000, 30000)
RESNET_MENTORNET_MULTIPLIERS = (1.0, 0.1, 0.01, 0.001)
# The original's StudentNet size: WRN-56-10 (stem and three stages of filters, units a stage).
RESNET_DEFAULT_WIDTHS = (16, 160, 320, 640)
RESNET_DEFAULT_UNITS = 9
# --fused_batch_norm: on, as it made the ResNet-8 (16,32,64,128) train step at batch 128 on a
# 2-core CPU 1.2x faster in float32 and 1.45x in mixed_bfloat16 (docs/speed.md).
FUSED_BATCH_NORM_DEFAULT = True

# The original code's default of --loss_p_percentile: what the original runs used (the
# commands' misspelled --loss_p_precentile was ignored; see config.method_settings).
ORIGINAL_LOSS_P_PERCENTILE = 0.7
# The original code's default of --loss_moving_average_decay (no command changed it).
ORIGINAL_LOSS_MOVING_AVERAGE_DECAY = 0.5
# The original code's default of --example_dropout_rates ([rate, n_epochs]+ over 100 epochs).
ORIGINAL_EXAMPLE_DROPOUT_RATES = "0.5,17,0.05,78,1.0,5"
# MentorMix (google-research/mentormix/code/cifar_train_mentormix.py): --mixup_alpha and
# --second_reweight defaults, and its --example_dropout_rates default (no example dropout).
ORIGINAL_MENTORMIX_MIXUP_ALPHA = 8.0
ORIGINAL_MENTORMIX_SECOND_REWEIGHT = True
ORIGINAL_MENTORMIX_EXAMPLE_DROPOUT_RATES = "0.0,100"
# MentorMix's batch-norm moving statistics from the unmixed pass, which is what evaluation sees
# (ours; the authors' code keeps the mixed pass's). Chosen on noisy validation (docs/results.md).
MENTORMIX_BATCH_NORM_STATISTICS = "unmixed"
# The MentorNet's epoch feature is the percent of training done: 100 bins.
NUM_EPOCH_BINS = 100
# v above this counts as "used" in data_util (and is the trust report's resolution).
SELECTED_WEIGHT_THRESHOLD = 1e-3

# Training-image augmentation: the original's pad, crop and flip; flip-only and none exist for
# reduced regimes (docs/regime_study.md).
AUGMENTATIONS = ("crop_flip", "flip", "none")

# Keras mixed-precision policies a run may ask for ("none": float32; "auto": see
# `mentornet.training.precision.resolve_mixed_precision`), and the help of every such flag.
MIXED_PRECISION_POLICIES = ("auto", "none", "mixed_float16", "mixed_bfloat16")
DEFAULT_MIXED_PRECISION = "auto"
MIXED_PRECISION_HELP = ("Keras mixed-precision policy. auto: mixed_bfloat16 on a CPU-only "
                        "machine with bf16 instructions, float32 elsewhere (GPUs included); "
                        "none: float32.")
# Under mixed_float16 the loss-scale optimizer skips a step whose gradients are not finite and
# halves its scale (2**15 at the start); a run stops (`training.callbacks.StopOnNonFinite`) when
# this many consecutive steps were skipped. A healthy run skips one step now and then; 100
# halvings leave a scale of 2**-85, and after about 165 the float32 scale would reach 0.
MAX_CONSECUTIVE_SKIPPED_STEPS = 100
