"""Run LocalStack 4.14 on this machine (no container for LocalStack itself) as the emulated account of
`make deploy-local`, with the pieces it lacks offline filled in (tools/localstack/README.md lists them).

Installed by tools/localstack/install.sh (its own Python 3.13 venv, Java, DynamoDB Local's jars); Lambda functions
run in Docker from the Lambda base image (tools/offline_lambda/build_base_image.sh makes the offline stand-in).
Everything listens on 127.0.0.1 and function containers use the host's network, so no traffic leaves loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools" / "localstack"
INSTALL_SCRIPT = TOOLS / "install.sh"
PLUGIN_DIR = TOOLS / "plugin"  # spot_localstack_gaps: what the community edition lacks offline
LAMBDA_INIT = TOOLS / "lambda_init.py"  # stand-in for LocalStack's Lambda runtime init


class LocalStackUnavailable(RuntimeError):
    """LocalStack could not be installed or did not start."""


@dataclass(frozen=True)
class Installation:
    python: str  # .venv-localstack's python
    java_home: str
    dynamodb_local_dir: str


def install(timeout: int = 1200) -> Installation:
    """Run tools/localstack/install.sh (idempotent, cached) and return where it put things."""
    try:
        done = subprocess.run([str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise LocalStackUnavailable(f"tools/localstack/install.sh did not finish within {timeout} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise LocalStackUnavailable(f"tools/localstack/install.sh failed (exit {done.returncode}):\n{tail}")
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return Installation(found["LOCALSTACK_PYTHON"], found["JAVA_HOME"], found["DYNAMODB_LOCAL_DIR"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(installation: Installation, work_dir: Path, port: int, lambda_image: str) -> dict[str, str]:
    """LocalStack's configuration for a host-mode, offline, loopback-only run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_", "PYTHON"))}
    env.update(
        # This machine looks like a container to LocalStack; without this it writes under /var/lib and /usr/lib.
        OVERRIDE_IN_DOCKER="0",
        FILESYSTEM_ROOT=str(work_dir / "filesystem"),
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        # Queue URLs and the functions' AWS_ENDPOINT_URL name this host, not localhost.localstack.cloud (no DNS).
        LOCALSTACK_HOST=f"localhost:{port}",
        SQS_ENDPOINT_STRATEGY="path",
        PERSISTENCE="0",
        DNS_ADDRESS="0",  # no DNS server of its own (it would bind port 53)
        SKIP_SSL_CERT_DOWNLOAD="1",
        DISABLE_EVENTS="1",
        LOCALSTACK_TELEMETRY="0",
        # Functions: our offline image for python3.13, on the host's network, calling LocalStack on loopback.
        LAMBDA_RUNTIME_IMAGE_MAPPING=json.dumps({"python3.13": lambda_image}),
        LAMBDA_DOCKER_NETWORK="host",
        HOSTNAME_FROM_LAMBDA="127.0.0.1",
        LAMBDA_INIT_BIN_PATH=str(LAMBDA_INIT),
        LAMBDA_REMOVE_CONTAINERS="1",
        # Read by the spot_localstack_gaps plugin (offline_packages.py).
        PYTHONPATH=str(PLUGIN_DIR),
        SPOT_LOCALSTACK_JAVA_HOME=installation.java_home,
        SPOT_LOCALSTACK_DYNAMODB_LOCAL_DIR=installation.dynamodb_local_dir,
        SPOT_LOCALSTACK_LAMBDA_INIT=str(LAMBDA_INIT),
    )
    return env


@dataclass
class RunningLocalStack:
    """A LocalStack process this machine started: where it answers and where it logs."""

    process: subprocess.Popen
    endpoint: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop LocalStack; it stops the function containers it started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start(installation: Installation, work_dir: Path, lambda_image: str, timeout: float = 120) -> RunningLocalStack:
    """Start LocalStack in its own process group and wait (bounded) until it reports ready."""
    port = free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "localstack.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [installation.python, "-m", "localstack.runtime.main"],
            env=environment(installation, work_dir, port, lambda_image),
            cwd=work_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stop() ends LocalStack and DynamoDB Local together
        )
    running = RunningLocalStack(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalStackUnavailable(f"LocalStack exited with {process.returncode}:\n{running.log_tail()}")
        if _ready(running.endpoint):
            return running
        time.sleep(0.5)
    running.stop()
    raise LocalStackUnavailable(f"LocalStack was not ready within {timeout:.0f} s:\n{running.log_tail()}")


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/init/ready", timeout=2) as response:
            return bool(json.load(response).get("completed"))
    except (OSError, ValueError):
        return False
