"""An in-memory Amazon GameLift fake that speaks GameLift's real wire protocol.

moto has no GameLift, so local runs and tests talk to this instead. It answers the awsJson1_1 protocol that
botocore uses for GameLift (``POST /``, ``X-Amz-Target: GameLift.<Operation>``,
``Content-Type: application/x-amz-json-1.1``; errors are HTTP 400 with ``{"__type": code, "message": ...}``), so
the handler's real boto3 client is pointed at it with ``endpoint_url`` and nothing else changes.

Requests and responses are checked against botocore's model (local/gamelift_model.py); a response that fails is a
bug in the fake, answered with HTTP 500 and recorded in ``GameLiftState.bugs`` so tests fail loudly.

Python use (tests)::

    server, url = start()              # 127.0.0.1, free port, daemon thread
    state = server.state               # GameLiftState: seed, inject faults, read the call log
    client = boto3.client("gamelift", endpoint_url=url, region_name=state.region, ...)
    ...
    stop(server)

Standalone (demo, e2e, Docker)::

    python -m local.gamelift_fake --host 0.0.0.0 --port 4567 [--seed seed.json]

and seed it from another process over HTTP: ``POST /_fake/state`` (JSON, see ``GameLiftState.load``; ``"reset":
true`` empties it first), ``GET /_fake/state``, ``POST /_fake/faults``, ``GET /_fake/calls``.

The fake is three modules, one concern each: local/gamelift_model.py (botocore's model and the checks against it),
local/gamelift_state.py (what the fake knows, and the operations the handler calls), and this HTTP front end.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.gamelift_model import FakeResponseInvalid, GameLiftError
from local.gamelift_state import DEFAULT_ACCOUNT, DEFAULT_REGION, GameLiftState

__all__ = ["GameLiftError", "GameLiftServer", "GameLiftState", "start", "stop"]

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "GameLift."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: GameLiftServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(
        self, status: int, body: Any, content_type: str = JSON_CONTENT_TYPE, error_code: str | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_code:
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_fake/state":
            self._send(200, state.snapshot(), "application/json")
        elif self.path == "/_fake/calls":
            with state.lock:
                self._send(200, state.calls, "application/json")
        else:
            self._send(404, {"message": f"no such path {self.path}"}, "application/json")

    def do_POST(self) -> None:
        if self.path.startswith("/_fake/"):
            self._control()
        elif self.path.split("?", 1)[0] == "/":
            self._api()
        else:
            self._send(404, {"__type": "UnknownOperationException", "message": f"no such path {self.path}"})

    def _control(self) -> None:
        state = self.server.state
        try:
            body = self._body()
            if self.path == "/_fake/state":
                self._send(200, state.load(body), "application/json")
            elif self.path == "/_fake/faults":
                state.inject_fault(body.pop("operation"), **body)
                self._send(200, {"ok": True}, "application/json")
            else:
                self._send(404, {"message": f"no such path {self.path}"}, "application/json")
        except (GameLiftError, ValueError, KeyError, TypeError) as error:
            self._send(400, {"message": f"bad seeding request: {error}"}, "application/json")

    def _api(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            self._send(
                400,
                {
                    "__type": "UnknownOperationException",
                    "message": f"X-Amz-Target must be {TARGET_PREFIX}<Operation>, got {target!r}",
                },
                error_code="UnknownOperationException",
            )
            return
        try:
            params = self._body()
            if not isinstance(params, dict):
                raise ValueError("request body must be a JSON object")
        except ValueError as error:
            self._send(
                400, {"__type": "SerializationException", "message": str(error)}, error_code="SerializationException"
            )
            return
        try:
            body = self.server.state.call(target[len(TARGET_PREFIX) :], params)
        except GameLiftError as error:
            self._send(error.status, {"__type": error.code, "message": error.message}, error_code=error.code)
        except FakeResponseInvalid as bug:
            sys.stderr.write(f"gamelift_fake BUG: {bug}\n")
            self._send(500, {"__type": "FakeResponseInvalid", "message": str(bug)}, error_code="FakeResponseInvalid")
        else:
            self._send(200, body)


class GameLiftServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer carrying the GameLiftState it serves."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: GameLiftState, verbose: bool = False) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose


def start(
    host: str = "127.0.0.1", port: int = 0, state: GameLiftState | None = None, verbose: bool = False
) -> tuple[GameLiftServer, str]:
    """Serve the fake on a daemon thread; returns the server (``server.state`` is the GameLiftState) and the
    endpoint URL to give boto3. Port 0 picks a free port."""
    server = GameLiftServer((host, port), state or GameLiftState(), verbose)
    threading.Thread(target=server.serve_forever, name="gamelift-fake", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    # A wildcard bind (for Docker) is still reached from this process through the loopback address.
    url_host = "127.0.0.1" if ipaddress.ip_address(bound_host).is_unspecified else bound_host
    return server, f"http://{url_host}:{bound_port}"


def stop(server: GameLiftServer) -> None:
    """Stop serving and close the socket."""
    server.shutdown()
    server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="In-memory Amazon GameLift fake (awsJson1_1 protocol).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 to be reachable from Docker)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--region", default=DEFAULT_REGION, help="Region used in ARNs")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="account id used in ARNs")
    parser.add_argument("--seed", help="JSON file in the POST /_fake/state format")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    state = GameLiftState(args.region, args.account)
    if args.seed:
        with open(args.seed, encoding="utf-8") as seed:
            state.load(json.load(seed))
    server = GameLiftServer((args.host, args.port), state, args.verbose)
    host, port = server.server_address[:2]
    print(f"GameLift fake listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
