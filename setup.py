"""Which packages the wheel holds: ``launch_control`` plus the top-level ``console/``, ``flows/`` and
``checklist/`` installed under the project's name (``launch_control.console``, ``launch_control.flows``,
``launch_control.checklist``), so an install adds one top-level package and no generic ``console`` or
``flows``. Everything else (metadata, dependencies, package data) is in pyproject.toml.

This file exists because pyproject.toml's ``packages.find`` cannot rename what it finds; the
``package_dir`` map below does, and setuptools' editable finder honours it for ``pip install -e``.
"""

from setuptools import find_namespace_packages, setup

# The directories that stay at the top of the checkout (the design card puts them there) and the
# name each installs under.
MAPPED = {"console": "launch_control.console", "flows": "launch_control.flows", "checklist": "launch_control.checklist"}

packages = find_namespace_packages(include=["launch_control", "launch_control.*"])
for folder, name in MAPPED.items():
    inside = find_namespace_packages(where=folder, exclude=["__pycache__", "*.__pycache__"])
    packages += [name] + [f"{name}.{sub}" for sub in inside]

setup(packages=packages, package_dir={name: folder for folder, name in MAPPED.items()})
