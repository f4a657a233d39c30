"""The cold start bench (bench/coldstart.py) on one cold start of each function, so it cannot rot: the built layer
leaves the SDK to the runtime, the handler starts on the runtime's SDK, and the COLDSTART line comes out whole.
Asserts on what was built and what answered, never on timings (those are the bench's to print).

    make e2e        (python -m pytest -m e2e tests/e2e)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import coldstart
from local import sam_local

pytestmark = pytest.mark.e2e

COLDSTART = re.compile(
    r"^COLDSTART init_ms_ours=(\d+) init_ms_bare=(\d+) ratio=([\d.]+) layer_mb=([\d.]+) runs=(\d+) "
    r"ratio_cpu=([\d.]+)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("coldstart")
    runtime, missing = sam_local.ensure_runtime(work)  # in CI a missing piece raises: an error, not a skip
    if runtime is None:
        pytest.skip(f"cold start bench skipped: {missing}")
    sam_local.build(runtime, work / "build", region=coldstart.REGION)
    return work / "build"


def test_the_layer_leaves_the_sdk_to_the_runtime(built):
    # Given the layer as `sam build` builds it
    layer = built / coldstart.LAYER

    # Then it holds none of the packages the runtime provides, ships compiled modules, and the GameLift model
    shipped = {path.name for path in (layer / "python").iterdir()}
    assert not shipped & {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath", "six.py"}, shipped
    assert {"spot_handler", "aws_lambda_powertools", "aws_xray_sdk", "wrapt"} <= shipped
    assert (layer / "python" / "spot_handler" / "__pycache__").is_dir()
    assert (layer / "botocore-data" / "gamelift" / "2015-10-01" / "service-2.json.gz").is_file()


def test_one_cold_start_of_each_gives_the_coldstart_line(built):
    # When the bench starts each function cold once (and once more, uncounted, first)
    lines = coldstart.report(runs=1, build_dir=built)

    # Then the handler answered the empty batch (measure raises otherwise), the bare handler ran on the runtime's
    # SDK, not on a copy of its own, and the last line is the machine-readable COLDSTART line
    text = "\n".join(lines)
    assert re.search(r"runtime SDK \(the bare handler's\): boto3 [\d.]+, botocore [\d.]+ from /var/lang/lib/", text), (
        text
    )
    match = COLDSTART.fullmatch(lines[-1])
    assert match, lines[-1]
    ours_ms, bare_ms, ratio, layer_mb, runs, ratio_cpu = match.groups()
    assert int(ours_ms) > 0 and int(bare_ms) > 0 and float(ratio) > 0 and float(ratio_cpu) > 0
    assert 0 < float(layer_mb) <= 10  # issue 25's bound: 27.7 MB when the layer brought boto3 and botocore
    assert runs == "1"
