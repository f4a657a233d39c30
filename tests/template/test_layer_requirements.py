"""The shared layer ships only what the python3.13 runtime lacks, and nothing it needs is missing.

layers/spot_common/Makefile installs requirements.txt without dependencies, so that list must be closed: every
dependency of a pinned package is pinned there too, or is one of the packages the runtime provides (boto3 and its
dependencies), and the stand-in runtime image (tools/offline_lambda/build_base_image.sh) carries each of those, so
the e2e suite runs the layer on them. Read from the installed packages' metadata, no network.
"""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.template import ROOT

pytestmark = pytest.mark.template

LAYER = ROOT / "layers" / "spot_common"
# What every python3.13 Lambda runtime provides: the AWS SDK for Python and its dependencies (AWS Lambda developer
# guide, "Working with .zip file archives for Python Lambda functions": the runtime includes Boto3 and its
# dependencies, and Lambda updates them).
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line (comments and blank lines ignored)."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"the layer pins exact versions: {line}"
            found[canonicalize_name(requirement.name)] = specifier.version
    return found


def dependencies(name: str, extras: tuple[str, ...] = ()) -> set[str]:
    """Names of what an installed distribution requires, with the given extras, on Linux CPython 3.13."""
    needed = set()
    for line in importlib.metadata.requires(name) or []:
        requirement = Requirement(line)
        environment = {"python_version": "3.13", "sys_platform": "linux", "platform_system": "Linux"}
        if requirement.marker and not any(
            requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
        ):
            continue
        needed.add(canonicalize_name(requirement.name))
    return needed


def test_the_layer_pins_every_dependency_the_runtime_does_not_provide():
    layer = pins((LAYER / "requirements.txt").read_text())
    assert not layer.keys() & RUNTIME_PROVIDED, "the layer would shadow the runtime's SDK"

    # Powertools' Tracer (app.py) needs its `tracer` extra: the X-Ray SDK
    missing = dependencies("aws-lambda-powertools", ("tracer",)) - layer.keys() - RUNTIME_PROVIDED
    assert not missing, f"Powertools with its tracer extra needs {missing}: pin them in requirements.txt"
    for name in layer:
        missing = dependencies(name) - layer.keys() - RUNTIME_PROVIDED
        assert not missing, f"{name} needs {missing}, neither in the layer nor in the runtime"


def test_the_layer_ships_the_versions_the_tests_run():
    layer = pins((LAYER / "requirements.txt").read_text())
    development = pins((ROOT / "requirements-dev.txt").read_text())
    for name in layer.keys() & development.keys():
        assert layer[name] == development[name], (
            f"{name}: layer {layer[name]}, requirements-dev.txt {development[name]}"
        )
    for name, version in layer.items():  # the metadata the first test reads is the layer's
        assert importlib.metadata.version(name) == version, f"{name}: the venv has another version than the layer"


def test_the_stand_in_runtime_carries_every_package_the_layer_leaves_to_the_runtime():
    script = (ROOT / "tools" / "offline_lambda" / "build_base_image.sh").read_text()
    listed = re.search(r"^SDK_PACKAGES=\(([^)]*)\)", script, re.MULTILINE)
    assert listed, "build_base_image.sh names no SDK_PACKAGES"
    assert pins("\n".join(listed.group(1).split())).keys() == RUNTIME_PROVIDED
