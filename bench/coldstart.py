"""Cold start, measured where it happens: the `sam build` output started in the Lambda runtime container.

    python -m bench.coldstart [--runs N] [--build-dir DIR]      (`make bench` prints the same lines)

What runs: `sam build` of template.yaml, then `sam local invoke` of the interruption handler (with its layer, on an
empty SQS batch: the init is the same whatever the event, and an empty batch makes no AWS call) and of a bare
function whose handler only imports boto3, both with the template's runtime, memory size and architecture, in the
Lambda base image every `sam local invoke` of this project runs on (tools/offline_lambda: the real
public.ecr.aws/lambda/python image where a registry answers, else the air-gapped stand-in). Each `sam local invoke`
starts a new container, so each invocation is a cold start. The two functions alternate; the first round is not
counted (SAM builds its images, the OS caches the files); the figure is the median of the rest.

What is read: the init duration as the emulator's Lambda core (rapid) measures it: from INIT START, before it starts
the runtime's bootstrap, to the runtime's first request for an event (INIT RTDONE), which is what Lambda's REPORT
line calls Init Duration. Rapid logs it as `INIT REPORT(durationMs: ...)` at debug level (SAM_CLI_RIE_DEV=1). The
`Init Duration` of the emulator's own REPORT line is not that: the emulator stops that clock before the runtime has
started (aws-lambda-runtime-interface-emulator issue 106), so it reads a few milliseconds at most whatever the
handler imports. The largest it gave is printed beside the real figures, so the difference stays visible.

Not in the figure: Powertools' Tracer does not patch botocore under `sam local` (it turns tracing off when
AWS_SAM_LOCAL is set), which deployed it does; `container_figures` measures that step on its own, and the CPU
time of the init's work, which other load on a shared machine moves far less than the clock (bench/README.md).

The layer's size is the unzipped size of what `sam build` put in the layer's folder, in MB of 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from local import sam_local

ROOT = Path(__file__).resolve().parents[1]
# Single cold starts vary by 2x and more on this shared 2-core machine while others run tests, and their medians
# move with that load (bench/README.md lists every run). 9 rounds keep `make bench` a few minutes longer only.
RUNS = 9
REGION = "us-east-2"
FUNCTION = sam_local.FUNCTION
LAYER = "SpotCommonLayer"
BARE_FUNCTION = "BareBoto3Function"
# The baseline: the cheapest Python function that uses AWS. It says which SDK the runtime gave it, for the record.
BARE_HANDLER = '''"""The baseline of the cold start: a handler that only imports boto3."""

import boto3


def lambda_handler(event, context):
    return {"boto3": boto3.__version__, "botocore": boto3.session.botocore.__version__, "path": boto3.__file__}
'''
# A closed port on the container's own loopback: a call the handler should not make fails at once, inside.
NOWHERE = "http://127.0.0.1:9"
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
EMULATOR_REPORT = re.compile(r"^REPORT RequestId: .*?Init Duration: ([\d.]+) ms", re.MULTILINE)


class ColdStartUnavailable(RuntimeError):
    """Docker, the Lambda base image, python3.13 or the SAM CLI is missing: nothing to start a container with."""


@dataclass
class Samples:
    init_ms: list[float]  # rapid's INIT REPORT, one per counted cold start
    emulator_init_ms: list[float]  # what the emulator's REPORT line said

    @property
    def median_ms(self) -> float:
        return statistics.median(self.init_ms)


@dataclass
class ColdStart:
    ours: Samples
    bare: Samples
    layer_bytes: int
    layer_contents: list[tuple[str, int]]  # top-level entries of the layer's python/ folder, largest first
    runtime_sdk: dict  # what the bare handler returned: the runtime's boto3 and botocore
    base_image: str
    tracer_patch_ms: float  # deployed, part of the init; not under `sam local`
    cpu_ours_ms: float  # CPU time of the init's work (container_figures)
    cpu_bare_ms: float

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_ours_ms / self.cpu_bare_ms

    @property
    def ratio(self) -> float:
        return self.ours.median_ms / self.bare.median_ms

    @property
    def paired_ratio(self) -> float:
        """Median of ours / bare within each round: the two ran seconds apart, so a load that comes and goes on a
        shared machine weighs on both sides of each ratio, where it can shift one median and not the other."""
        return statistics.median(o / b for o, b in zip(self.ours.init_ms, self.bare.init_ms, strict=True))

    @property
    def layer_mb(self) -> float:
        return self.layer_bytes / 1e6


def measure(runs: int = RUNS, build_dir: Path | None = None) -> ColdStart:
    """Cold starts of the built handler and of the bare boto3 handler, alternating; raises ColdStartUnavailable."""
    work = Path(tempfile.mkdtemp(prefix="spot-coldstart-"))
    try:
        runtime, missing = sam_local.ensure_runtime(work, ci=False)
        if runtime is None:
            raise ColdStartUnavailable(missing)
        if build_dir is None:
            build_dir = work / "build"
            sam_local.build(runtime, build_dir, region=REGION)
        # (the built template is for this machine's architecture: sam_local.build builds machine_template's copy)
        ours = _Function(runtime, work, build_dir / "template.yaml", FUNCTION, {"Records": []})
        ours.env_vars({FUNCTION: dict.fromkeys(sam_local.ENDPOINT_VARIABLES, NOWHERE)})
        bare = _Function(runtime, work, _bare_template(work), BARE_FUNCTION, {})
        samples = {"ours": Samples([], []), "bare": Samples([], [])}
        sdk: dict = {}
        for attempt in range(runs + 1):
            for name, function in (("bare", bare), ("ours", ours)):
                init_ms, emulator_ms, response = function.cold_invoke()
                if name == "ours" and response != {"batchItemFailures": []}:
                    raise RuntimeError(f"the handler answered {response!r} to an empty batch")
                if name == "bare":
                    sdk = response
                if attempt:  # the first round builds SAM's images and warms the file cache
                    samples[name].init_ms.append(init_ms)
                    samples[name].emulator_init_ms.append(emulator_ms)
        layer = build_dir / LAYER
        figures = container_figures(build_dir, runs)
        return ColdStart(
            ours=samples["ours"],
            bare=samples["bare"],
            layer_bytes=_size(layer),
            layer_contents=_contents(layer / "python"),
            runtime_sdk=sdk,
            base_image=sam_local.BASE_IMAGE,
            tracer_patch_ms=figures["tracer_on"] - figures["tracer_off"],
            cpu_ours_ms=figures["cpu_ours"],
            cpu_bare_ms=figures["cpu_bare"],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Function:
    """One function of a built template, invoked cold (a new container each time) with the emulator's debug log."""

    def __init__(
        self,
        runtime: sam_local.Runtime,
        work: Path,
        template: Path,
        logical_id: str,
        event: dict,
    ):
        self.runtime, self.template, self.logical_id = runtime, template, logical_id
        self.event = work / f"{logical_id}.event.json"
        self.event.write_text(json.dumps(event))
        self.extra: list[str] = []
        self.environment = sam_local.sam_environment(runtime, REGION, sts_endpoint=NOWHERE)
        # rapid's debug log carries INIT REPORT; one attempt at SAM's own STS call (on the closed port) instead of
        # botocore's retries, which cost about 7 s an invoke. Neither reaches the function (not in its template).
        self.environment.update(SAM_CLI_RIE_DEV="1", AWS_MAX_ATTEMPTS="1")

    def env_vars(self, values: dict) -> None:
        path = self.event.with_suffix(".env.json")
        path.write_text(json.dumps(values))
        self.extra += ["--env-vars", str(path)]

    def cold_invoke(self) -> tuple[float, float, object]:
        """(rapid's init ms, the emulator's REPORT init ms, the function's answer) of one `sam local invoke`."""
        command = [self.runtime.sam, "local", "invoke", self.logical_id, "--template-file", str(self.template)]
        command += ["--event", str(self.event), "--skip-pull-image", *self.extra]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=self.environment, check=False
        )
        output = done.stdout + "\n" + done.stderr
        init, emulator = INIT_REPORT.search(output), EMULATOR_REPORT.search(output)
        response = _last_json(done.stdout)
        if (
            done.returncode != 0
            or not init
            or not emulator
            or not isinstance(response, dict)
            or "errorType" in response
        ):
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise RuntimeError(f"`sam local invoke {self.logical_id}` gave no clean cold start:\n{tail}")
        return float(init.group(1)), float(emulator.group(1)), response


def _bare_template(work: Path) -> Path:
    """A template with the bare function, on the interruption handler's runtime, memory, timeout and architecture."""
    from samcli.yamlhelper import yaml_parse

    globals_ = yaml_parse(sam_local.TEMPLATE.read_text())["Globals"]["Function"]
    code = work / "bare"
    code.mkdir()
    (code / "app.py").write_text(BARE_HANDLER)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            BARE_FUNCTION: {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": str(code),
                    "Handler": "app.lambda_handler",
                    "Runtime": globals_["Runtime"],
                    "MemorySize": globals_["MemorySize"],
                    "Timeout": globals_["Timeout"],
                    "Architectures": [sam_local.ARCHITECTURE],
                },
            }
        },
    }
    path = work / "bare-template.json"  # JSON is YAML: SAM reads it as a template
    path.write_text(json.dumps(template, indent=2))
    return path


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _contents(folder: Path) -> list[tuple[str, int]]:
    entries = [(p.name, _size(p) if p.is_dir() else p.stat().st_size) for p in folder.iterdir()]
    return sorted(((n, b) for n, b in entries if not n.endswith(".dist-info")), key=lambda e: -e[1])


def _last_json(stdout: str) -> object:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


# Measured in one container of the base image, in fresh processes of the runtime's Python, with the layer in /opt and
# the built function in /var/task, in Lambda's environment (no AWS_SAM_LOCAL: the Tracer patches botocore, as
# deployed). Each line the loop prints is "<what> <ms>".
# - tracer_on / tracer_off: the Tracer built as app.py builds it, with tracing on (Lambda) and off (`sam local`); the
#   X-Ray SDK is imported before the clock starts (it is imported either way, and counted in the init figures).
# - cpu_ours / cpu_bare: the CPU time of a process that starts, imports the runtime client and then the handler, or
#   only boto3: the work of the init, less the emulator's part, as CPU time, which other load on the machine moves
#   far less than it moves the clock.
CPU_MS = "r = resource.getrusage(resource.RUSAGE_SELF); print((r.ru_utime + r.ru_stime) * 1e3)"
CONTAINER_SCRIPTS = {
    "tracer_on": "import time, boto3; from aws_lambda_powertools import Tracer; from aws_xray_sdk.core import "
    "xray_recorder; t = time.perf_counter(); Tracer(patch_modules=['botocore']); "
    "print((time.perf_counter() - t) * 1e3)",
    "cpu_ours": f"import awslambdaric.bootstrap, app, resource; {CPU_MS}",
    "cpu_bare": f"import awslambdaric.bootstrap, boto3, resource; {CPU_MS}",
}


def container_figures(build_dir: Path, runs: int = RUNS) -> dict[str, float]:
    """Medians of CONTAINER_SCRIPTS' figures, `runs` rounds in one container; tracer_off is tracer_on's script with
    tracing disabled (POWERTOOLS_TRACE_DISABLED, which has the Tracer take the path it takes under `sam local`)."""
    # Lambda's module search order: function code, the layer, the runtime's packages (its SDK), its runtime client.
    # The bare function has neither our code nor the layer.
    runtime = f"/var/lang/lib/python{sam_local.PYTHON_VERSION}/site-packages:/var/runtime"
    paths = {"tracer_on": f"/opt/python:{runtime}", "cpu_ours": f"/var/task:/opt/python:{runtime}", "cpu_bare": runtime}
    rounds = [f'echo "{name} $(PYTHONPATH={paths[name]} python3 -c "${name.upper()}")"' for name in CONTAINER_SCRIPTS]
    off = f"PYTHONPATH={paths['tracer_on']} POWERTOOLS_TRACE_DISABLED=true"
    rounds.append(f'echo "tracer_off $({off} python3 -c "$TRACER_ON")"')
    loop = f"for i in $(seq {runs}); do {'; '.join(rounds)}; done"
    command = ["docker", "run", "--rm", "--name", f"spot-coldstart-{os.getpid()}-{time.time_ns()}"]
    command += [
        "-v",
        f"{(build_dir / LAYER).resolve()}:/opt:ro",
        "-v",
        f"{(build_dir / FUNCTION).resolve()}:/var/task:ro",
    ]
    environment = {
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_REGION": REGION,
        "AWS_DATA_PATH": "/opt/botocore-data",
        **{name.upper(): script for name, script in CONTAINER_SCRIPTS.items()},
    }
    for name, value in environment.items():
        command += ["-e", f"{name}={value}"]
    command += ["--entrypoint", "/bin/sh", sam_local.BASE_IMAGE, "-c", loop]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    figures: dict[str, list[float]] = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" ")
        try:
            figures.setdefault(name, []).append(float(value))
        except ValueError:
            continue
    if done.returncode != 0 or any(len(figures.get(name, [])) != runs for name in [*CONTAINER_SCRIPTS, "tracer_off"]):
        raise RuntimeError(f"the in-container measurement failed (exit {done.returncode}): {done.stderr[-1500:]}")
    return {name: statistics.median(values) for name, values in figures.items()}


def report(runs: int = RUNS, build_dir: Path | None = None) -> list[str]:
    """The lines `make bench` prints: what was measured, then the machine-readable COLDSTART line."""
    began = time.perf_counter()
    try:
        cs = measure(runs, build_dir)
    except ColdStartUnavailable as missing:
        reason = " ".join(str(missing).split())
        return [f"  cold start: not measured ({reason})", f'COLDSTART skipped reason="{reason}"']
    sdk = cs.runtime_sdk
    lines = [
        f"  cold start in the Lambda runtime container ({cs.base_image}; `sam local invoke` of the `sam build` "
        f"output, a new container each time, median of {runs} each, alternating; {time.perf_counter() - began:.0f} s):",
        f"    init ours {cs.ours.median_ms:.0f} ms (handler + layer), bare {cs.bare.median_ms:.0f} ms (a handler that "
        f"only imports boto3): ratio {cs.ratio:.2f} (target <= 1.3); median of the rounds' own ratios "
        f"{cs.paired_ratio:.2f}; fastest of each {min(cs.ours.init_ms):.0f} / {min(cs.bare.init_ms):.0f} ms = "
        f"{min(cs.ours.init_ms) / min(cs.bare.init_ms):.2f}",
        "    init ms ours: " + ", ".join(f"{v:.0f}" for v in cs.ours.init_ms),
        "    init ms bare: " + ", ".join(f"{v:.0f}" for v in cs.bare.init_ms),
        "    (the emulator's REPORT line said Init Duration "
        f"{max(cs.ours.emulator_init_ms + cs.bare.emulator_init_ms):.2f} ms at most: its clock stops before the "
        "runtime starts; the figures above are rapid's INIT REPORT)",
        f"    runtime SDK (the bare handler's): boto3 {sdk.get('boto3')}, botocore {sdk.get('botocore')} from "
        f"{Path(str(sdk.get('path'))).parent.parent}",
        f"    layer {cs.layer_mb:.1f} MB unzipped (target <= 10): "
        + ", ".join(f"{name} {size / 1e6:.1f}" for name, size in cs.layer_contents[:6]),
        f"    not in the figures: the Tracer's botocore patch, which `sam local` skips and Lambda does not, "
        f"{cs.tracer_patch_ms:.1f} ms (median of {runs} fresh processes of the runtime's Python in the container)",
        f"    CPU time of the init's work in the same container (start, runtime client, then app or boto3; Lambda's "
        f"environment, so the Tracer patches): ours {cs.cpu_ours_ms:.0f} ms, bare {cs.cpu_bare_ms:.0f} ms, ratio "
        f"{cs.cpu_ratio:.2f} (median of {runs}; other load moves CPU time far less than the clock)",
    ]
    lines.append(
        f"COLDSTART init_ms_ours={cs.ours.median_ms:.0f} init_ms_bare={cs.bare.median_ms:.0f} ratio={cs.ratio:.2f} "
        f"layer_mb={cs.layer_mb:.1f} runs={runs} ratio_cpu={cs.cpu_ratio:.2f}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold start of the built handler in the Lambda runtime container.")
    parser.add_argument("--runs", type=int, default=RUNS, help="counted cold starts of each function")
    parser.add_argument("--build-dir", type=Path, help="an existing `sam build` output (default: build one)")
    args = parser.parse_args(argv)
    print("\n".join(report(args.runs, args.build_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
