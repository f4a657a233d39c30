"""Cold start and CPU: what the handler costs beyond the AWS calls it makes.

- Import time: `python -X importtime -c "import app"` with the function's layer on PYTHONPATH, against
  `python -X importtime -c "import boto3"`, each in fresh processes, with the environment variables Lambda sets;
  the figure is the cumulative time of the top-level module (median of several interleaved runs, after one
  unmeasured run of each so the OS file cache is warm). "Its layer" is what the layer really holds: its
  requirements.txt installed into a cache folder for the runtime's Python (3.13, found the way `make build` finds
  it), not the development venv, whose extra packages (awscrt, pyOpenSSL) boto3 would import too. Without a
  python3.13 it falls back to this interpreter and says so.
- CPU per notice: time.process_time() of this process around handle_invocation, over full batches, against the
  bench server with no injected latency. moto runs in the server process, so its work is not counted, and
  process_time does not count time spent waiting for answers either: what remains is the handler's own CPU.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE_PATH = [str(ROOT / p) for p in ("layers/spot_common", "functions/interruption_handler")]
LAYER_REQUIREMENTS = ROOT / "layers" / "spot_common" / "requirements.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spot-handler" / "bench-layer"


def runtime_python() -> tuple[str, bool]:
    """(interpreter, is it the Lambda runtime's version 3.13)."""
    found = subprocess.run(
        [str(ROOT / "tools" / "offline_lambda" / "find_python.sh"), "3.13"], capture_output=True, text=True
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip(), True
    return sys.executable, False


def layer_packages(python: str) -> str:
    """The layer's third-party packages installed for `python`, cached by requirements and interpreter."""
    key = hashlib.sha256(LAYER_REQUIREMENTS.read_bytes() + python.encode()).hexdigest()[:16]
    target = CACHE / key
    if not (target / ".complete").exists():
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(target),
                "-r",
                str(LAYER_REQUIREMENTS),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        (target / ".complete").touch()
    return str(target)


# What the Lambda runtime sets before it imports the handler. It matters: outside Lambda the X-Ray SDK builds two
# botocore clients for its sampling rules when it is imported (100+ ms); inside Lambda it samples locally and builds
# none, and Powertools' Tracer patches botocore for real. Measured as Lambda runs it, not as a laptop does.
LAMBDA_ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "interruption_handler"),
    "AWS_LAMBDA_FUNCTION_NAME": "spot-interruption-handler",
    "AWS_REGION": "us-east-2",
    "AWS_DEFAULT_REGION": "us-east-2",
    "POWERTOOLS_SERVICE_NAME": "spot-interruption-handler",
    "POWERTOOLS_METRICS_NAMESPACE": "SpotInterruptionHandler",
}


def _import_lines(module: str, python: str, packages: str) -> list[tuple[int, int, str]]:
    """(cumulative us, depth, name) of every import line of `import module` in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(LAMBDA_ENVIRONMENT, PYTHONPATH=os.pathsep.join([packages, *CODE_PATH]), PYTHONNOUSERSITE="1")
    done = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            lines.append((int(parts[1]), (len(name) - len(name.lstrip())) // 2, name.strip()))
    return lines


# 31 runs of each: single imports vary by +-15% on a busy machine; with 15 the median ratio moved by 0.05 between
# runs, with 31 by about 0.01.
RUNS = 31


def cold_start(runs: int = RUNS) -> dict:
    """Median cumulative import time of `import app` and of `import boto3`, fresh processes, interleaved.

    One unmeasured run of each first (file cache). Also returns the direct imports of app that cost most, from the
    median run, so a regression names its culprit.
    """
    python, is_runtime_version = runtime_python()
    packages = layer_packages(python)
    samples: dict[str, list[int]] = {"boto3": [], "app": []}
    app_runs = []
    for attempt in range(runs + 1):
        for module in ("boto3", "app"):
            lines = _import_lines(module, python, packages)
            total = next(cum for cum, depth, name in reversed(lines) if depth == 0 and name == module)
            if attempt:
                samples[module].append(total)
                if module == "app":
                    app_runs.append((total, lines))
    boto3_us = statistics.median(samples["boto3"])
    app_us = statistics.median(samples["app"])
    _, median_lines = sorted(app_runs, key=lambda run: run[0])[len(app_runs) // 2]
    top = sorted(((cum, name) for cum, depth, name in median_lines if depth == 1), reverse=True)[:6]
    return {
        "python": f"python3.13 ({python})" if is_runtime_version else f"{python} (no python3.13 found)",
        "boto3_ms": boto3_us / 1000,
        "app_ms": app_us / 1000,
        "ratio": app_us / boto3_us,
        "runs": runs,
        "top_ms": [(name, cum / 1000) for cum, name in top],
    }
