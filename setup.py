"""Which files the sdist and the wheel carry; everything else about the package is in pyproject.toml.

The shipped model lives once in the repository, in the top-level models/ (the model directory
default/, its card and the measured results the card cites). A wheel must carry it, or an installed
synthsieve has no model, so it is mapped in as the data-only package `detector.models`: it installs
at site-packages/detector/models, where `detector.detector.shipped_models_dir` looks first, and no copy
is kept in the repository. This needs `package_dir`, which pyproject.toml cannot combine with package
discovery, hence this file.
"""

from setuptools import find_packages, setup

SHIPPED_MODELS = "detector.models"
SHIPPED_MODEL = f"{SHIPPED_MODELS}.default"

setup(
    packages=find_packages(include=["detector", "detector.*", "filters", "filters.*"]) + [SHIPPED_MODELS, SHIPPED_MODEL],
    package_dir={SHIPPED_MODELS: "models"},
    package_data={
        SHIPPED_MODELS: ["*.md", "*.json"],
        # Every artifact `detector.detector.ARTIFACT_FILES` names, and model.json with their hashes.
        SHIPPED_MODEL: ["model.json", "*.json", "*.skops", "*.ftz", "*.npz"],
    },
)
