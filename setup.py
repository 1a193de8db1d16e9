"""Package mapping only (metadata lives in pyproject.toml).

The stage folders sit at the repository root (DESIGN §1) but install as ``scan2ad.<stage>``:
``package_dir`` maps each one, and its sub-packages are found here so nobody has to list them.
"""

from setuptools import find_packages, setup

STAGES = ("acquisition", "reconstruction", "annotation", "datasets", "detectors", "calibration_data")

package_dir = {"scan2ad": "scan2ad"}
packages = ["scan2ad"] + [f"scan2ad.{p}" for p in find_packages("scan2ad")]
for stage in STAGES:
    package_dir[f"scan2ad.{stage}"] = stage
    packages.append(f"scan2ad.{stage}")
    packages += [f"scan2ad.{stage}.{p}" for p in find_packages(stage)]

setup(
    package_dir=package_dir,
    packages=packages,
    include_package_data=True,
    package_data={
        "scan2ad.calibration_data": ["rigs/*.toml", "boards/*.toml", "virtual/*.json", "virtual/*.png"],
        # the shipped backbone weights sit in a data folder (no package), out of reach of the "" patterns
        "scan2ad.detectors.features.backbones": ["weights/*.pt", "weights/*.md", "weights/*.png"],
        "": ["*.toml", "*.json", "*.pt", "*.md"],
    },
)
