"""MentorNet as Keras components: `CurriculumModel`, curricula objects, `find_label_issues`."""
from mentornet.keras_api.curricula import DataParameters
from mentornet.keras_api.curricula import MentorMix
from mentornet.keras_api.curricula import MentorNet
from mentornet.keras_api.curricula import NoCurriculum
from mentornet.keras_api.curriculum_model import CurriculumModel
from mentornet.keras_api.label_issues import find_label_issues

__all__ = ["CurriculumModel", "DataParameters", "MentorMix", "MentorNet", "NoCurriculum",
           "find_label_issues"]
