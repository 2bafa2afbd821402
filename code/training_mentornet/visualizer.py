r"""Visualizes a learned MentorNet (the original's flags, plus --output_dir).

  python code/training_mentornet/visualizer.py \
      --model_dir=mentornet_models/models/mentornet_pd1_g_1/mentornet_pd --loss_bound=5 \
      --epoch_ranges=0,10,18,20,30,40,50,60,70,80,90,95,99 --output_dir=runs/plots/mentornet_pd

draws the weight v over (loss in [0, loss_bound], loss - moving average in [-loss_bound,
loss_bound]) for each epoch: <output_dir>/epoch_<t>.png and the animated <output_dir>/plot.gif.
--model_dir is a MentorNet SavedModel (train.py's --train_dir/--export_dir) or an original TF1
MentorNet checkpoint. --output_dir defaults to --model_dir, as the original wrote there.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import visualize_mentornet

if __name__ == "__main__":
  visualize_mentornet.run_main()
