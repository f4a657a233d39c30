"""Run the function the way users do: `sam build`, then `sam local invoke` in Docker, against a local AWS.

Used by the e2e suite (tests/e2e) and by the demo (local/demo.py). What it relies on, and why
(tools/offline_lambda/README.md has the details):

- A Docker engine and the Lambda base image `public.ecr.aws/lambda/python:3.13-<arch>`: the project's scripts
  start Debian's docker.io and pull the real image or build the air-gapped stand-in (`ensure_runtime`).
- `sam build` needs a python3.13 on PATH: tools/offline_lambda/find_python.sh links one into a private directory.
- The function reaches moto and the GameLift fake on the host through the Docker bridge's gateway address, so both
  must listen on 0.0.0.0. Their endpoints reach the function as AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_GAMELIFT through
  `--env-vars`, which only sets variables the template declares: template.yaml declares both under the SamLocalOnly
  condition, so they exist locally and never in a deployed stack.
- SAM itself calls STS on every invoke: AWS_ENDPOINT_URL_STS in SAM's own environment points it at moto (without it
  every invoke waits ~12 s for the real STS to time out).
- `sam local invoke` exits 0 when the function raises: the outcome is read from the response it prints.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
TOOLS = ROOT / "tools" / "offline_lambda"
FUNCTION = "InterruptionHandlerFunction"
PYTHON_VERSION = "3.13"
# The function's architecture must match the machine: the emulator image is built for it (see machine_template).
ARCHITECTURE = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
# What template.yaml says (arm64, the cloud's choice: no parameter), and what machine_template makes of it.
_CLOUD_ARCHITECTURE_LINES = ("    Architectures: [arm64]\n", "      BuildArchitecture: arm64\n")
BASE_IMAGE = f"public.ecr.aws/lambda/python:{PYTHON_VERSION}-{ARCHITECTURE}"
# Variables the template must declare so local runs can point the function at local endpoints.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_GAMELIFT")


class RuntimeUnavailable(RuntimeError):
    """Docker, the Lambda base image, python3.13 or the SAM CLI is missing: `sam local invoke` cannot run."""


def in_ci() -> bool:
    """CI is set (by .ci/run or the CI system): a missing runtime is a failure there, not a reason to skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Runtime:
    """What `sam build` / `sam local invoke` need, found or provisioned on this machine."""

    sam: str  # the SAM CLI executable
    python_dir: Path  # a directory holding only python3.13 (a symlink), to put first on PATH for `sam build`
    host_address: str  # the host as containers on the default bridge network reach it


def ensure_runtime(
    work_dir: Path, *, provision: bool = True, ci: bool | None = None
) -> tuple[Runtime | None, str | None]:
    """Make sure `sam local invoke` can run: (runtime, None), or (None, why not).

    provision=True starts a Docker engine (installing Debian's docker.io as root when there is none) and pulls or
    builds the base image, as the e2e suite does; provision=False only checks (the demo's automatic choice).
    In CI (see `in_ci`) a missing piece raises RuntimeUnavailable instead of returning a reason to skip.
    """
    ci = in_ci() if ci is None else ci
    try:
        return _runtime(work_dir, provision), None
    except RuntimeUnavailable as missing:
        if ci:
            raise
        return None, str(missing)


def _runtime(work_dir: Path, provision: bool) -> Runtime:
    sam = shutil.which("sam", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not sam:
        raise RuntimeUnavailable("the SAM CLI (`sam`) is not installed: run `make venv`")
    if provision:
        _script("ensure_docker.sh", timeout=300, what="no Docker engine")
        _script(
            "build_base_image.sh", "--version", PYTHON_VERSION, timeout=1200, what=f"no Lambda base image {BASE_IMAGE}"
        )
    else:
        if not shutil.which("docker") or _run(["docker", "info"], timeout=20).returncode != 0:
            raise RuntimeUnavailable("no Docker engine answers (tools/offline_lambda/ensure_docker.sh starts one)")
        if _run(["docker", "image", "inspect", BASE_IMAGE], timeout=20).returncode != 0:
            raise RuntimeUnavailable(
                f"the Lambda base image {BASE_IMAGE} is not here (tools/offline_lambda/build_base_image.sh makes it)"
            )
    found = _run([str(TOOLS / "find_python.sh"), "--link-dir", str(work_dir / "python"), PYTHON_VERSION], timeout=30)
    if found.returncode != 0:
        raise RuntimeUnavailable(f"no python{PYTHON_VERSION} for `sam build` (install one, e.g. with pyenv)")
    return Runtime(sam=sam, python_dir=Path(found.stdout.strip()), host_address=docker_host_address())


def docker_host_address() -> str:
    """The host's address on Docker's default bridge: where a container reaches services listening on 0.0.0.0."""
    inspected = _run(["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"], timeout=20)
    try:
        config = json.loads(inspected.stdout)[0]
    except (ValueError, IndexError, TypeError):
        raise RuntimeUnavailable(f"cannot read Docker's bridge network: {inspected.stderr.strip()}") from None
    if config.get("Gateway"):
        return config["Gateway"]
    # Docker 20.10 leaves Gateway out for the default bridge; the daemon gives the bridge the subnet's first address.
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def _script(name: str, *args: str, timeout: int, what: str) -> None:
    try:
        done = _run([str(TOOLS / name), *args], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeUnavailable(f"{what}: tools/offline_lambda/{name} did not finish within {timeout} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RuntimeUnavailable(f"{what}: tools/offline_lambda/{name} failed (exit {done.returncode}):\n{tail}")


def _run(command: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    except FileNotFoundError as missing:
        return subprocess.CompletedProcess(command, 127, "", str(missing))


def sam_environment(runtime: Runtime, region: str, sts_endpoint: str) -> dict[str, str]:
    """The SAM CLI's own environment: fake credentials, the region, STS on the local AWS, python3.13 on PATH.

    SAM passes a shell variable the template declares on to the function (ahead of the template's value), so every
    declared variable and every endpoint variable of the caller is dropped: the function sees the template's values
    and the env file only.
    """
    declared = declared_environment()
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in declared and not k.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE"))
    }
    environment.pop("AWS_SESSION_TOKEN", None)
    environment.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        AWS_ENDPOINT_URL_STS=sts_endpoint,
        SAM_CLI_TELEMETRY="0",
        PATH=f"{runtime.python_dir}{os.pathsep}{environment.get('PATH', '')}",
    )
    return environment


def machine_template(directory: Path, template: Path = TEMPLATE) -> Path:
    """template.yaml with this machine's architecture instead of the cloud's arm64, written into directory.

    The cloud always runs arm64, so the template has no Architecture parameter (one --guided question fewer); a
    local container must run the machine's. Only the two architecture lines differ; build it with
    `sam build --template-file <this> --base-dir <repository>` so the code paths resolve as for template.yaml.
    """
    text = template.read_text()
    for line in _CLOUD_ARCHITECTURE_LINES:
        if text.count(line) != 1:
            raise RuntimeError(f"{template.name} no longer has exactly one {line.strip()!r}: update machine_template")
        text = text.replace(line, line.replace("arm64", ARCHITECTURE))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"template.{ARCHITECTURE}.yaml"
    path.write_text(text)
    return path


def build(runtime: Runtime, build_dir: Path, region: str = "us-east-1", timeout: int = 900) -> float:
    """`sam build` of template.yaml (for this machine's architecture) into build_dir; returns the seconds it took.
    Raises RuntimeError on failure."""
    started = time.perf_counter()
    done = _run(
        [
            runtime.sam,
            "build",
            "--template-file",
            str(machine_template(build_dir.parent)),
            "--base-dir",
            str(ROOT),
            "--build-dir",
            str(build_dir),
        ],
        timeout=timeout,
        cwd=ROOT,
        env=sam_environment(runtime, region, "http://127.0.0.1:9"),
    )
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def declared_environment(template_path: Path = TEMPLATE, function: str = FUNCTION) -> dict[str, Any]:
    """The function's environment variables as template.yaml declares them, Globals included (intrinsics unresolved)."""
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse(template_path.read_text())
    declared = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    resource = template["Resources"][function]
    declared.update(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
    return declared


def function_environment(
    physical_ids: dict[str, str], endpoint: str, gamelift_endpoint: str | None = None
) -> dict[str, str]:
    """The --env-vars values of the function for a local stack: every variable the template declares as a Ref to a
    stack resource gets that resource's local value (queue URL, topic ARN, table name), so a variable the template
    gains later is wired without a change here; the endpoints go to the local AWS and the GameLift fake.

    physical_ids: logical id -> what Ref returns for it in the local stack (`stack_refs`).
    """
    declared = declared_environment()
    missing = [name for name in ENDPOINT_VARIABLES if name not in declared]
    if missing:
        raise RuntimeError(
            f"template.yaml does not declare {', '.join(missing)} on {FUNCTION}: sam local invoke would drop the "
            "local endpoints and the function would call real AWS"
        )
    values: dict[str, str] = {}
    for name, value in declared.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in physical_ids:
            values[name] = physical_ids[value["Ref"]]
    values["AWS_ENDPOINT_URL"] = endpoint
    values["AWS_ENDPOINT_URL_GAMELIFT"] = gamelift_endpoint or endpoint
    return values


def stack_refs(cloudformation, stack_name: str) -> dict[str, str]:
    """Logical id -> physical id (what Ref returns) of every resource of a stack in the local AWS."""
    refs: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary.get("PhysicalResourceId"):
                refs[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    return refs


@dataclass
class Invocation:
    """One `sam local invoke`: what the function returned, or the error it raised, and how long it took."""

    response: Any  # the function's return value (None when it raised)
    error_type: str | None  # errorType of the Lambda error response when the function raised
    error_message: str | None
    stdout: str
    stderr: str  # SAM's messages and the function's logs
    seconds: float
    exit_code: int

    @property
    def failed(self) -> bool:
        return self.error_type is not None


def invoke(
    runtime: Runtime,
    build_dir: Path,
    event_path: Path,
    function_env: dict[str, str],
    *,
    sts_endpoint: str,
    region: str,
    function: str = FUNCTION,
    timeout: int = 300,
) -> Invocation:
    """`sam local invoke` of the built function with event_path; function_env goes in through --env-vars."""
    env_file = event_path.with_name(event_path.stem + ".env.json")
    env_file.write_text(json.dumps({function: function_env}, indent=2))
    command = [
        runtime.sam,
        "local",
        "invoke",
        function,
        "--template-file",
        str(build_dir / "template.yaml"),
        "--event",
        str(event_path),
        "--env-vars",
        str(env_file),
        "--skip-pull-image",
    ]
    started = time.perf_counter()
    done = _run(command, timeout=timeout, cwd=ROOT, env=sam_environment(runtime, region, sts_endpoint))
    seconds = time.perf_counter() - started
    response = _last_json_line(done.stdout)
    error_type = error_message = None
    if isinstance(response, dict) and "errorType" in response:
        error_type, error_message = str(response["errorType"]), str(response.get("errorMessage", ""))
        response = None
    elif done.returncode != 0 or response is _NO_RESPONSE:
        error_type = "SamLocalInvokeFailed"
        error_message = f"sam local invoke exit {done.returncode}: {done.stderr.strip()[-2000:]}"
        response = None
    return Invocation(response, error_type, error_message, done.stdout, done.stderr, seconds, done.returncode)


_NO_RESPONSE = object()


def _last_json_line(stdout: str) -> Any:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return _NO_RESPONSE


if __name__ == "__main__":
    # `python -m local.sam_local template [DIR]`: write template.yaml for this machine's architecture, print its path
    # (for `sam build --template-file <path> --base-dir .` by hand; docs/local-truth.md).
    if sys.argv[1:2] != ["template"]:
        sys.exit("usage: python -m local.sam_local template [DIR]")
    print(machine_template(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / ".aws-sam"))
