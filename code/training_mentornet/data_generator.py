r"""Generates the training data for learning a MentorNet (the original's flags).

Predefined curriculum (a v* function of mentornet.learning.vstar.VSTAR_FUNCTIONS):
  python code/training_mentornet/data_generator.py --outdir=runs/data/mentornet_pd \
      --vstar_fn=vstar_mentornet_pd --vstar_gamma=1 --sample_size=100000
Data-driven, from a StudentNet dump (see dump_studentnet.py), one set per percentile:
  python code/training_mentornet/data_generator.py --vstar_fn=data_driven \
      --input_csv_filename=mentornet_models/studentnet_dump_csv/nl_0.2.csv --outdir=runs/data/dd
writes <outdir>/nl_0.2_percentile_{40,50,60,75,80,90}/.

Each data set directory holds tr.p and ts.p (pickles of float64 [n, 5] arrays with columns
loss, loss_diff, label, epoch, v_star, readable by the original reader) and dataset_info.json.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mentornet.cli import generate_mentornet_data

if __name__ == "__main__":
  generate_mentornet_data.run_main()
