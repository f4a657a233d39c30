#!/usr/bin/env python3
"""Stand-in for LocalStack's Lambda runtime init: the entrypoint (/var/rapid/init) of every function container.

Gap: LocalStack 4.14 downloads its init (a Go build of the Lambda runtime interface emulator) from a release page
the first time a function is created; offline that fails ("Installation of lambda-runtime ... failed") and no
function can run. This file takes its place (spot_localstack_gaps.offline_packages installs it where LocalStack's
installer looks). It needs only the Python of the function's image (stdlib only).

The contract it keeps, as LocalStack's Docker executor uses it (localstack/services/lambda_/invocation/):
- Environment: LOCALSTACK_RUNTIME_ENDPOINT (http://host:port/_localstack_lambda/<executor id>),
  LOCALSTACK_RUNTIME_ID (the executor id), AWS_LAMBDA_FUNCTION_TIMEOUT, _HANDLER and the function's variables.
- Starts the runtime's bootstrap (first of $LAMBDA_TASK_ROOT/bootstrap, /opt/bootstrap, $LAMBDA_RUNTIME_DIR/bootstrap)
  with AWS_LAMBDA_RUNTIME_API pointing at the Lambda Runtime API (2018-06-01) it serves on 127.0.0.1.
- When the runtime first asks for an invocation (its init is done): POST <endpoint>/status/<id>/ready. If the
  runtime reports an init error, or exits before that: POST <endpoint>/status/<id>/error.
- Serves POST /invoke on port 9563 ({"invoke-id", "invoked-function-arn", "payload", "trace-id"}): answers 200 at
  once and hands the event to the runtime.
- For each result: POST <endpoint>/invocations/<request id>/logs ({"logs": the runtime's output during the
  invocation}), then /invocations/<request id>/response or /error with the runtime's body.

Differences from the real init: the function timeout is passed on as the deadline but not enforced (LocalStack
bounds the wait itself), no extensions, no X-Ray daemon, no dropping of root privileges.

Env for tests (not set by LocalStack): SPOT_LAMBDA_INIT_INVOKE_PORT (default 9563), SPOT_LAMBDA_INIT_RUNTIME_API_PORT
(default: a free port; the containers run on the host network, where a fixed 9001 could be taken).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIME_API = "/2018-06-01/runtime"
INVOKE_PORT = int(os.environ.get("SPOT_LAMBDA_INIT_INVOKE_PORT", "9563"))


@dataclass
class Invocation:
    request_id: str
    function_arn: str
    payload: bytes
    trace_id: str
    deadline_ms: int


class Init:
    """What the two servers share: pending invocations, the runtime's output, and how to reach LocalStack."""

    def __init__(self, endpoint: str, runtime_id: str, timeout_s: int) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.runtime_id = runtime_id
        self.timeout_s = timeout_s
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.ready = threading.Event()
        self._output: list[str] = []
        self._output_lock = threading.Lock()

    def report(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/{path}", data=body, method="POST", headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except OSError as failed:  # LocalStack gone (shutting down): nothing left to tell
            print(f"lambda_init: POST {path} failed: {failed}", file=sys.stderr, flush=True)

    def report_ready(self) -> None:
        if not self.ready.is_set():
            self.ready.set()
            self.report(f"status/{self.runtime_id}/ready", b"{}")

    def report_init_error(self, body: bytes) -> None:
        self.ready.set()  # the executor waits for one of ready or error, never both
        self.report(f"status/{self.runtime_id}/error", body or b"{}")

    def add_output(self, text: str) -> None:
        with self._output_lock:
            self._output.append(text)

    def take_output(self) -> str:
        with self._output_lock:
            text, self._output = "".join(self._output), []
        return text

    def finish(self, request_id: str, outcome: str, body: bytes) -> None:
        """outcome: "response" or "error". Logs first: LocalStack attaches them when the result arrives."""
        time.sleep(0.05)  # let the output pump catch up with what the runtime printed just before answering
        logs = json.dumps({"logs": self.take_output()}).encode()
        self.report(f"invocations/{request_id}/logs", logs)
        self.report(f"invocations/{request_id}/{outcome}", body)


def runtime_api_handler(init: Init) -> type[BaseHTTPRequestHandler]:
    class RuntimeApi(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the runtime's own output is the log; no access lines
            pass

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{RUNTIME_API}/invocation/next":
                self._answer(404)
                return
            init.report_ready()  # the runtime asks for work only once its own init is done
            invocation = init.pending.get()
            init.take_output()  # what came before belongs to no invocation
            self._answer(
                200,
                invocation.payload,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                },
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = self.path.removeprefix(RUNTIME_API).strip("/").split("/")
            if parts == ["init", "error"]:
                self._answer(202, b'{"status":"OK"}')
                init.report_init_error(body)
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                self._answer(202, b'{"status":"OK"}')
                init.finish(parts[1], parts[2], body)
            else:
                self._answer(404)

    return RuntimeApi


def invoke_handler(init: Init) -> type[BaseHTTPRequestHandler]:
    class InvokeApi(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invoke":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = json.loads(body)
            init.pending.put(
                Invocation(
                    request_id=request["invoke-id"],
                    function_arn=request.get("invoked-function-arn", ""),
                    payload=(request.get("payload") or "").encode(),
                    trace_id=request.get("trace-id", ""),
                    deadline_ms=int((time.time() + init.timeout_s) * 1000),
                )
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return InvokeApi


def find_bootstrap(environ: dict[str, str]) -> str | None:
    """The first of the places the Lambda service looks for a runtime's bootstrap."""
    for folder in (
        environ.get("LAMBDA_TASK_ROOT", "/var/task"),
        "/opt",
        environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime"),
    ):
        candidate = os.path.join(folder, "bootstrap")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def apply_chmod_paths(environ: dict[str, str]) -> None:
    """LocalStack asks its init to set these modes (LOCALSTACK_CHMOD_PATHS: [{"path", "mode"}])."""
    for item in json.loads(environ.get("LOCALSTACK_CHMOD_PATHS") or "[]"):
        try:
            os.chmod(item["path"], int(item["mode"], 8))
        except OSError:
            pass  # a path the image lacks (/opt without layers): nothing to set


def pump_output(stream, init: Init) -> None:
    for line in iter(stream.readline, ""):
        sys.stdout.write(line)
        sys.stdout.flush()
        init.add_output(line)


def serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> int:
    environ = dict(os.environ)
    init = Init(
        environ["LOCALSTACK_RUNTIME_ENDPOINT"],
        environ["LOCALSTACK_RUNTIME_ID"],
        int(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3),
    )
    apply_chmod_paths(environ)
    runtime_api = ThreadingHTTPServer(
        ("127.0.0.1", int(environ.get("SPOT_LAMBDA_INIT_RUNTIME_API_PORT", "0"))), runtime_api_handler(init)
    )
    serve(runtime_api)
    serve(ThreadingHTTPServer(("0.0.0.0", INVOKE_PORT), invoke_handler(init)))

    bootstrap = find_bootstrap(environ)
    if bootstrap is None:
        init.report_init_error(
            json.dumps({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": "no bootstrap"}).encode()
        )
        return 1
    environ["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{runtime_api.server_address[1]}"
    runtime = subprocess.Popen(
        [bootstrap], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    pump_output(runtime.stdout, init)
    code = runtime.wait()
    if not init.ready.is_set():
        message = {"errorType": "Runtime.ExitError", "errorMessage": f"bootstrap exited with {code} during init"}
        init.report_init_error(json.dumps(message).encode())
    return code


if __name__ == "__main__":
    sys.exit(main())
