"""Faults injected into the handler's boto3 clients with botocore event hooks, the way a failing AWS answers.

- Error responses (throttling, 5xx) and timeouts are injected at `before-send`, per HTTP attempt, so botocore's
  own retry logic (standard mode, 4 attempts) sees them and retries exactly as it would against AWS.
- Errors that AWS never retries (AccessDenied) are injected at `before-call`, which ends the call at once.
- A hang blocks an attempt until the test releases it, then answers with a timeout, never reaching the network.

moto's in-process stub also answers `before-send`; an injected answer points the request at an unroutable URL so
moto ignores it (it would otherwise perform the operation the caller is told failed).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse

UNROUTABLE = "http://fault-injected.invalid/"
ELBV2 = "elastic-load-balancing-v2"  # botocore's service id of ELBv2, as Fault names it


@dataclass
class Fault:
    """One kind of failure of one operation: `rate` of the attempts fail while `active()` says so."""

    service: str  # botocore service id, hyphenized: "elastic-load-balancing-v2", "sns", "dynamodb", ...
    operation: str  # "DeregisterTargets", or "*"
    kind: str  # "throttle", "5xx", "timeout", "hang", "access-denied", "conflict" (DynamoDB TransactWriteItems)
    rate: float = 1.0
    active: Callable[[], bool] = lambda: True
    # A predicate on the call's parameters (before-call), or on {"body": the decoded request body} (before-send).
    only_if: Callable[[dict], bool] | None = None
    code: str | None = None  # error code to answer with (a per-service default otherwise)

    def matches(self, service: str, operation: str) -> bool:
        return self.service == service and self.operation in ("*", operation)


_THROTTLE_CODES = {"dynamodb": "ProvisionedThroughputExceededException", "ec2": "RequestLimitExceeded"}
_SERVER_CODES = {
    "dynamodb": "InternalServerError",
    "ec2": "InternalError",
    "sqs": "InternalError",
    "sns": "InternalError",
    "elastic-load-balancing-v2": "InternalFailure",
}


@dataclass
class FaultInjector:
    faults: list[Fault] = field(default_factory=list)
    seed: int = 7
    injected: Counter = field(default_factory=Counter)  # (service, operation, kind) -> count
    release: threading.Event = field(default_factory=threading.Event)  # lets hanging attempts go

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def install(self, *clients) -> FaultInjector:
        for client in clients:
            client.meta.events.register_first("before-send", self._before_send)
            client.meta.events.register_first("before-call", self._before_call)
        return self

    def install_on_session(self, session) -> FaultInjector:
        """Into every client the boto3 session builds from now on (the STS client AccountClients builds itself)."""
        session.events.register_first("before-send", self._before_send)
        session.events.register_first("before-call", self._before_call)
        return self

    def _pick(self, event_name: str, phase: str, params: dict | None = None) -> Fault | None:
        _, service, operation = event_name.split(".", 2)
        for fault in self.faults:
            at_call = fault.kind == "access-denied"
            if (phase == "call") != at_call or not fault.matches(service, operation) or not fault.active():
                continue
            if fault.only_if is not None and not fault.only_if(params or {}):
                continue
            with self._lock:
                hit = self._random.random() < fault.rate
                if hit:
                    self.injected[(service, operation, fault.kind)] += 1
            if hit:
                return fault
        return None

    def _before_call(self, event_name: str, params: dict, model, **kwargs):
        # `params` is the serialized request; for the query protocol its body holds the API parameters.
        api_params = {**params, **params["body"]} if isinstance(params.get("body"), dict) else params
        fault = self._pick(event_name, "call", api_params)
        if fault is None:
            return None
        code = fault.code or "AccessDenied"
        response = AWSResponse(UNROUTABLE, 403, {}, MockRawResponse(b""))
        return response, {
            "Error": {"Code": code, "Message": f"injected: not authorized to perform {model.name}"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    def _before_send(self, event_name: str, request, **kwargs):
        body = request.body or b""
        body = unquote_plus(body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body))
        fault = self._pick(event_name, "send", {"body": body})
        if fault is None:
            return None
        _, service, _operation = event_name.split(".", 2)
        if fault.kind == "hang":
            self.release.wait(timeout=60)
            fault_kind = "timeout"
        else:
            fault_kind = fault.kind
        if fault_kind == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        request.url = UNROUTABLE  # moto's stub must not perform an operation that is answered as failed
        if fault_kind == "conflict":
            return _transaction_conflict(request, body)
        status, code = {
            "throttle": (400, fault.code or _THROTTLE_CODES.get(service, "Throttling")),
            "5xx": (
                503 if (fault.code or "").startswith("ServiceUnavailable") else 500,
                fault.code or _SERVER_CODES.get(service, "InternalFailure"),
            ),
        }[fault_kind]
        return _error_response(request, service, status, code)


def _error_response(request, service: str, status: int, code: str, fields: dict | None = None) -> AWSResponse:
    """The error as the service's protocol answers it; `fields` are the error's modeled members (JSON protocol)."""
    message = f"injected {code}"
    headers = {"x-amzn-RequestId": "fault-injected"}
    content_type = request.headers.get("Content-Type", b"")
    content_type = content_type.decode() if isinstance(content_type, bytes) else str(content_type)
    if "json" in content_type:
        body = json.dumps({"__type": code, "message": message, **(fields or {})})
        headers.update({"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"})
    elif service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>fault-injected</RequestID></Response>"
        )
        headers["Content-Type"] = "text/xml"
    else:  # query protocol: ELBv2, SNS, Auto Scaling
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fault-injected</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    return AWSResponse(UNROUTABLE, status, headers, MockRawResponse(body.encode()))


def _transaction_conflict(request, body: str) -> AWSResponse:
    """TransactWriteItems cancelled because another transaction held its first item, as DynamoDB answers it.

    DynamoDB gives one CancellationReason per action, in order: "TransactionConflict" for the item in conflict and
    "None" for the actions that did not cause the cancellation. Nothing is written.
    """
    actions = json.loads(body).get("TransactItems", [])
    reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    reasons += [{"Code": "None"}] * (len(actions) - 1)
    return _error_response(
        request, "dynamodb", 400, "TransactionCanceledException", fields={"CancellationReasons": reasons}
    )


def no_backoff(monkeypatch) -> None:
    """Retries happen as configured, but their backoff is not slept: the suites simulate time instead of waiting."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
