"""Learning new MentorNets (the original's code/training_mentornet/), step by step.

- `vstar`: the predefined curricula as v* functions, in the `VSTAR_FUNCTIONS` registry.
- `generator`: the input grid, the predefined and data-driven training sets and their files.
- `fit`: trains a MentorNet on such a set and exports the SavedModel `--trained_mentornet_dir`
  takes.
- `studentnet_dump`: per-example losses of a StudentNet checkpoint, the data-driven input CSV.
- `visualize`: the learned weight v over (loss, loss difference), one PNG per epoch and a GIF.
- `checks`: acceptance checks of a learned MentorNet against its v* function.

The scripts in code/training_mentornet/ are thin command-line shells over these modules.
"""
