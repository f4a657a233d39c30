"""The bench's stand-in for AWS: moto behind WSGI middleware that adds what moto leaves out.

    python -m bench.server [--host 127.0.0.1] [--port 0]     (prints "PORT <n>" once it listens)

moto (with the project's fidelity patches, local/moto_fidelity.py) answers every call; the middleware in front of it
- counts every request by service and operation, throttled ones and retries included (that is what AWS sees);
- adds a per-call latency drawn uniformly from a range (half before moto answers, half after);
- runs ELB's API token buckets, one set per account and Region as AWS does, and answers over-budget ELBv2 calls the
  way AWS does: HTTP 400, query protocol error document, Error Code "Throttling", message "Rate exceeded";
- counts calls per account too (the account moto serves the request in: bench/accounts.py's multi-account run), and
  every AssumeRole by the account of the role it asks for;
- timestamps every target that a successful DeregisterTargets removed (and every instance a successful
  DeregisterInstancesFromLoadBalancer removed, every container instance UpdateContainerInstancesState set to
  DRAINING), so both designs are timed the same way, on the server side, at the moment the load balancer stops
  routing to them or ECS stops placing tasks on them.

Token buckets (see bench/README.md for the source): ELB keeps one bucket per account and Region for its
non-mutating actions (Describe*), documented at 40 tokens with a refill of 10 tokens per second, and separate ones
for mutating actions. One request takes one token; refill is continuous at the documented per-second rate.

Control endpoints (JSON, used by the harness only): POST /_bench/config sets latency and buckets and clears every
counter; GET /_bench/stats returns the counters.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs

from local import moto_fidelity

ELB_SERVICE = "elasticloadbalancing"
THROTTLE_BODY = (
    '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float = 0.0
    updated: float = 0.0

    def __post_init__(self):
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# The access key the modelled SQS event source signs with: its ReceiveMessage/DeleteMessage calls are the Lambda
# service's, not the function's, so they are neither counted nor slowed nor throttled.
POLLER_ACCESS_KEY = "LAMBDAEVENTSOURCE"


def signed_by_poller(environ: dict) -> bool:
    return f"Credential={POLLER_ACCESS_KEY}/" in environ.get("HTTP_AUTHORIZATION", "")


def operation_of(environ: dict, body: bytes) -> tuple[str, str]:
    """(service, operation) of a signed AWS request: service from the SigV4 scope, operation from the protocol."""
    service = "unknown"
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:  # JSON protocols: "AmazonSQS.SendMessage"
        return service, target.rsplit(".", 1)[-1]
    action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["unknown"])[0]
    return service, action


ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def region_of(environ: dict) -> str:
    """The Region of a SigV4-signed request (its credential scope), "" when unsigned."""
    scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) >= 4 else ""


def role_account(body: bytes) -> str:
    """The account of the role an AssumeRole request asks for (its RoleArn's fifth field)."""
    arn = parse_qs(body.decode("utf-8", "replace")).get("RoleArn", [""])[0].split(":")
    return arn[4] if len(arn) > 4 else "unknown"


class BenchMiddleware:
    """Latency, ELB throttling and call counting in front of a WSGI app (moto's)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.latency: tuple[float, float] | None = None
        self.bucket_specs: dict[str, dict] = {}  # bucket name -> {"burst", "refill_per_second"}
        self.buckets: dict[tuple[str, str, str], TokenBucket] = {}  # (account, region, bucket name), made on first use
        self.rng = random.Random(0)
        self.calls: Counter = Counter()
        self.throttled: Counter = Counter()
        self.deregistered: dict[str, float] = {}  # "target group ARN|target id" -> first time it was removed
        self.largest: dict[str, int] = {}  # "service:Operation" -> largest request body seen, in bytes
        self.calls_by_account: dict[str, Counter] = {}  # account -> "service:Operation" -> requests
        self.assume_role: Counter = Counter()  # account of the role asked for -> AssumeRole requests
        self.accounts_by_key: dict[str, str] = {}  # access key id -> account (a key never changes account)

    def configure(self, config: dict) -> None:
        with self.lock:
            latency = config.get("latency")
            self.latency = (float(latency[0]), float(latency[1])) if latency else None
            self.buckets = {}
            self.bucket_specs = dict(config.get("buckets") or {})
            self.rng = random.Random(config.get("seed", 0))
            drain = config.get("drain_seconds")
            # How long a deregistered target drains: AWS ends a drain once its in-flight requests are done, which
            # moto cannot know; the bench models requests finishing within the given range (capped by the delay).
            rng = random.Random(config.get("seed", 0))
            moto_fidelity.drain_seconds = (
                (lambda delay: min(delay, rng.uniform(float(drain[0]), float(drain[1])))) if drain else (lambda d: d)
            )
            self.calls.clear()
            self.throttled.clear()
            self.deregistered.clear()
            self.largest.clear()
            self.calls_by_account.clear()
            self.assume_role.clear()

    def stats(self) -> dict:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "throttled": dict(self.throttled),
                "deregistered": dict(self.deregistered),
                "largest": dict(self.largest),
                "calls_by_account": {account: dict(calls) for account, calls in self.calls_by_account.items()},
                "assume_role": dict(self.assume_role),
            }

    def _delay(self) -> float:
        with self.lock:
            return self.rng.uniform(*self.latency) if self.latency else 0.0

    def _admit(self, service: str, operation: str, account: str, region: str) -> bool:
        if service != ELB_SERVICE:
            return True
        bucket_name = "elb_describe" if operation.startswith("Describe") else "elb_mutating"
        with self.lock:
            spec = self.bucket_specs.get(bucket_name)
            if spec is None:
                return True
            # ELB throttles per account and Region: each has buckets of its own.
            bucket = self.buckets.get((account, region, bucket_name))
            if bucket is None:
                bucket = TokenBucket(float(spec["burst"]), float(spec["refill_per_second"]))
                self.buckets[(account, region, bucket_name)] = bucket
            return bucket.take()

    def _account_of(self, environ: dict) -> str:
        """The account moto serves the request in, found the way moto finds it (BaseResponse.get_current_account):
        the MOTO_ACCOUNT_ID variable, else the x-moto-account-id header (how the bench seeds other accounts and
        how its per-account baseline reaches them), else the access key: moto's own get_account_id_from maps the
        keys of assumed-role credentials to the role's account and anything else to its default account."""
        if "MOTO_ACCOUNT_ID" in os.environ:
            return os.environ["MOTO_ACCOUNT_ID"]
        header = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        if header:
            return header
        match = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        key = match.group(1) if match else ""
        with self.lock:
            account = self.accounts_by_key.get(key)
        if account is None:
            from moto.iam.models import get_account_id_from

            account = get_account_id_from(key)
            with self.lock:
                self.accounts_by_key[key] = account
        return account

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self._control(environ, start_response, path)

        if signed_by_poller(environ):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service, operation = operation_of(environ, body)
        key = f"{service}:{operation}"
        account, region = self._account_of(environ), region_of(environ)
        with self.lock:
            self.calls[key] += 1
            self.largest[key] = max(self.largest.get(key, 0), len(body))
            self.calls_by_account.setdefault(account, Counter())[key] += 1
            if key == "sts:AssumeRole":
                self.assume_role[role_account(body)] += 1
        delay = self._delay()
        time.sleep(delay / 2)

        if not self._admit(service, operation, account, region):
            with self.lock:
                self.throttled[key] += 1
            time.sleep(delay / 2)
            payload = THROTTLE_BODY.format(request_id=uuid.uuid4()).encode()
            start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
            return [payload]

        status_holder: list[str] = []

        def capture(status, headers, exc_info=None):
            status_holder.append(status)
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, capture))  # moto has answered: the state change is done
        if status_holder and status_holder[0].startswith("200"):
            if operation == "DeregisterTargets":
                self._record_deregistration(body)
            elif operation == "DeregisterInstancesFromLoadBalancer":
                self._record_classic_deregistration(body)
            elif operation == "UpdateContainerInstancesState":
                self._record_container_instances_draining(body)
        time.sleep(delay / 2)
        return chunks

    def _record_deregistration(self, body: bytes) -> None:
        self._record_removed(body, "TargetGroupArn", "Targets.member.", ".Id")

    def _record_classic_deregistration(self, body: bytes) -> None:
        self._record_removed(body, "LoadBalancerName", "Instances.member.", ".InstanceId")

    def _record_removed(self, body: bytes, owner: str, prefix: str, suffix: str) -> None:
        """Timestamp every target a query-protocol request removed from `owner` (its target group or load balancer):
        the members named `prefix`N`suffix`."""
        form = parse_qs(body.decode("utf-8", "replace"))
        name = form.get(owner, [""])[0]
        now = time.time()
        with self.lock:
            for key, values in form.items():
                if key.startswith(prefix) and key.endswith(suffix):
                    self.deregistered.setdefault(f"{name}|{values[0]}", now)

    def _record_container_instances_draining(self, body: bytes) -> None:
        request = json.loads(body or b"{}")
        if request.get("status") != "DRAINING":
            return
        cluster = str(request.get("cluster", "")).rsplit("/", 1)[-1]
        now = time.time()
        with self.lock:
            for arn in request.get("containerInstances", []):
                self.deregistered.setdefault(f"{cluster}|{arn}", now)

    def _control(self, environ, start_response, path):
        if path == "/_bench/config" and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self.configure(json.loads(environ["wsgi.input"].read(length) or b"{}"))
            payload = b"{}"
        elif path == "/_bench/stats":
            payload = json.dumps(self.stats()).encode()
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b"{}"]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    moto_fidelity.apply()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request would cost more than moto
    app = BenchMiddleware(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
