"""The contract of tools/localstack/lambda_init.py, our stand-in for LocalStack's Lambda runtime init, on its own:
no LocalStack, no Docker. A fake LocalStack records what the init reports; a small runtime bootstrap speaks the
Lambda Runtime API the init serves.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

INIT = Path(__file__).resolve().parents[2] / "tools" / "localstack" / "lambda_init.py"
EXECUTOR = "exec-1"

# A runtime as the Lambda Runtime API expects one: asks for the next event, prints a log line, answers with the
# event and the invocation headers, or reports an error when the event asks for one.
ECHO_BOOTSTRAP = """#!{python}
import json, os, sys, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
print("runtime started", flush=True)
while True:
    with urllib.request.urlopen(api + "/invocation/next") as next_event:
        event = json.loads(next_event.read())
        headers = dict(next_event.headers)
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    print("handling", request_id, flush=True)
    if event.get("fail"):
        outcome, body = "error", {{"errorType": "Boom", "errorMessage": "asked to fail"}}
    else:
        outcome, body = "response", {{"event": event, "headers": headers}}
    urllib.request.urlopen(urllib.request.Request(
        api + "/invocation/" + request_id + "/" + outcome, data=json.dumps(body).encode(), method="POST"))
"""
INIT_ERROR_BOOTSTRAP = """#!{python}
import os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
error = b'{{"errorType": "ImportError"}}'
urllib.request.urlopen(urllib.request.Request(api + "/init/error", data=error, method="POST"))
"""
EXITING_BOOTSTRAP = "#!/bin/sh\nexit 3\n"


class FakeLocalStack:
    """Records every POST under /_localstack_lambda/<executor>/ in order: (path after the prefix, body)."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, bytes]] = []
        self.arrived = threading.Condition()
        reports, arrived = self.reports, self.arrived

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with arrived:
                    reports.append((self.path.removeprefix(f"/_localstack_lambda/{EXECUTOR}/"), body))
                    arrived.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/_localstack_lambda/{EXECUTOR}"

    def wait_for(self, path: str, seconds: float = 20) -> bytes:
        with self.arrived:
            found = self.arrived.wait_for(lambda: any(p == path for p, _ in self.reports), timeout=seconds)
        assert found, f"the init did not POST {path}; it posted {[p for p, _ in self.reports]}"
        return next(body for p, body in self.reports if p == path)

    def paths(self) -> list[str]:
        return [p for p, _ in self.reports]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def localstack():
    fake = FakeLocalStack()
    yield fake
    fake.server.shutdown()


def start_init(tmp_path: Path, endpoint: str, bootstrap: str) -> tuple[subprocess.Popen, int]:
    task_root = tmp_path / "task"
    task_root.mkdir()
    (task_root / "bootstrap").write_text(bootstrap.format(python=sys.executable))
    (task_root / "bootstrap").chmod(0o755)
    (tmp_path / "private").mkdir()
    invoke_port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "LOCALSTACK_RUNTIME_ENDPOINT": endpoint,
        "LOCALSTACK_RUNTIME_ID": EXECUTOR,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(tmp_path / "no-runtime"),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
        "LOCALSTACK_CHMOD_PATHS": json.dumps([{"path": str(tmp_path / "private"), "mode": "0700"}]),
        "SPOT_LAMBDA_INIT_INVOKE_PORT": str(invoke_port),
    }
    process = subprocess.Popen([sys.executable, str(INIT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, invoke_port


def invoke(port: int, request_id: str, payload: dict) -> requests.Response:
    body = {
        "invoke-id": request_id,
        "invoked-function-arn": "arn:aws:lambda:us-east-2:123456789012:function:f",
        "payload": json.dumps(payload),
        "trace-id": "Root=1-abc;Parent=def;Sampled=1",
    }
    deadline = time.monotonic() + 10
    while True:  # the init's server may still be starting, as LocalStack's executor also allows for
        try:
            return requests.post(f"http://127.0.0.1:{port}/invoke", json=body, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=10)


def test_ready_then_invocations_through_the_runtime_api(tmp_path, localstack):
    # Given the init with a runtime that echoes its events
    process, port = start_init(tmp_path, localstack.endpoint, ECHO_BOOTSTRAP)
    try:
        # When the runtime asks for its first event, the init tells LocalStack it is ready
        localstack.wait_for(f"status/{EXECUTOR}/ready")
        assert (tmp_path / "private").stat().st_mode & 0o777 == 0o700, "LOCALSTACK_CHMOD_PATHS applied"

        # And an invocation is accepted at once and handed to the runtime with the Runtime API's headers
        assert invoke(port, "req-1", {"n": 1}).status_code == 200
        response = json.loads(localstack.wait_for("invocations/req-1/response"))
        assert response["event"] == {"n": 1}
        headers = response["headers"]
        assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
        assert headers["Lambda-Runtime-Invoked-Function-Arn"] == "arn:aws:lambda:us-east-2:123456789012:function:f"
        assert headers["Lambda-Runtime-Trace-Id"] == "Root=1-abc;Parent=def;Sampled=1"
        assert 25_000 < int(headers["Lambda-Runtime-Deadline-Ms"]) - time.time() * 1000 <= 30_000

        # Then the invocation's own output went to LocalStack as its logs, before the response
        paths = localstack.paths()
        assert paths.index("invocations/req-1/logs") < paths.index("invocations/req-1/response")
        logs = json.loads(localstack.wait_for("invocations/req-1/logs"))["logs"]
        assert "handling req-1" in logs and "runtime started" not in logs

        # And a function error is reported as an error, with the runtime's body
        invoke(port, "req-2", {"fail": True})
        error = json.loads(localstack.wait_for("invocations/req-2/error"))
        assert error == {"errorType": "Boom", "errorMessage": "asked to fail"}
    finally:
        stop(process)


def test_runtime_init_error_is_reported_as_a_startup_error(tmp_path, localstack):
    process, _ = start_init(tmp_path, localstack.endpoint, INIT_ERROR_BOOTSTRAP)
    try:
        assert json.loads(localstack.wait_for(f"status/{EXECUTOR}/error")) == {"errorType": "ImportError"}
        assert f"status/{EXECUTOR}/ready" not in localstack.paths()
    finally:
        stop(process)


def test_runtime_exiting_during_init_is_reported_as_a_startup_error(tmp_path, localstack):
    process, _ = start_init(tmp_path, localstack.endpoint, EXITING_BOOTSTRAP)
    try:
        error = json.loads(localstack.wait_for(f"status/{EXECUTOR}/error"))
        assert error["errorType"] == "Runtime.ExitError" and "exited with 3" in error["errorMessage"]
        assert process.wait(timeout=10) == 3
    finally:
        if process.poll() is None:
            stop(process)
