"""The idempotency records as Powertools writes them (DynamoDBPersistenceLayer, its key, window and function name),
composed into transaction actions instead of sent (Composer), and what a record says of its claim: who holds it
(HOLDER_ATTR) and how long ago it was claimed. claims.py sends them; why this way is in its docstring."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from spot_handler.idempotency.results import Claimable

# 15 minutes: longer than EventBridge retries a delivery (MaximumEventAgeInSeconds 300) and than the two minutes an
# interruption lasts; shorter than the 4 x 360 s the queue keeps redelivering (VisibilityTimeout x maxReceiveCount - 1),
# so a claim left behind by a crashed invocation expires while its notice can still be redelivered.
WINDOW_SECONDS = 900
# Powertools' own put condition lets anyone take over an in-progress record once its in-progress expiry is past. A
# claim is never completed (the module's docstring), so that expiry is the window: whether a holder is gone is
# decided here, from the claim's age and holder, not by Powertools' condition.
HOLD_MILLIS = WINDOW_SECONDS * 1000
# The longest an invocation can run: template.yaml's function Timeout (tests/template/test_static_checks.py keeps
# them in step). A claim older than this is not held by a running invocation.
OWNER_INVOCATION_SECONDS = 60
HOLDER_ATTR = "holder"
MESSAGE_HOLDER = "sqs:"  # a holder that is a queue message, which the queue delivers again until it is handled
STATUS_COMPLETED = "COMPLETED"  # records of a Powertools-decorated call, or of earlier versions of this handler


def persistence_layer(dynamodb, table_name: str) -> DynamoDBPersistenceLayer:
    """Powertools' persistence layer as this handler configures it (key, window, function name).

    With a real client it reads and writes records one by one, as the idempotency decorator does (tests use it to
    play another invocation); the handler gives it a Composer instead.
    """
    layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
    layer.configure(
        IdempotencyConfig(event_key_jmespath="[account, instance, incident]", expires_after_seconds=WINDOW_SECONDS),
        function_name="interruption",
    )
    return layer


@functools.lru_cache(maxsize=4)
def composing_layer(table_name: str) -> tuple[DynamoDBPersistenceLayer, Composer]:
    """One persistence layer per table for the life of the execution environment, composing through a Composer."""
    composer = Composer()
    return persistence_layer(composer, table_name), composer


class Composer:
    """Stands in for the persistence layer's DynamoDB client: keeps the request instead of sending it."""

    def __init__(self):
        self._kept: dict[str, Any] | None = None
        self._lock = threading.Lock()  # invocations in threads (tests, bench) share the cached layer

    def compose(self, write: Callable[[], None]) -> dict:
        """The one request `write` (a persistence-layer call) makes, as a TransactWriteItems action."""
        with self._lock:
            self._kept = None
            write()
            return self._take()

    def put_item(self, **request) -> dict:
        return self._keep("Put", request)

    def update_item(self, **request) -> dict:
        return self._keep("Update", request)

    def delete_item(self, **request) -> dict:
        return self._keep("Delete", request)

    def _keep(self, action: str, request: dict) -> dict:
        self._kept = {action: request}
        return {}

    def _take(self) -> dict:
        kept, self._kept = self._kept, None
        if kept is None:
            raise RuntimeError("Powertools composed no write")
        return kept


def record_data(notice: Claimable) -> dict[str, str]:
    return notice.claim_data


def holder_of(notice: Claimable) -> str:
    """The holder a claim written after the fact names: one of its messages (the queue deletes them as handled)."""
    return f"{MESSAGE_HOLDER}{min(notice.deliveries)}" if notice.deliveries else f"invocation:{uuid.uuid4()}"


def claimed_seconds_ago(record: dict, expiry_attr: str) -> float:
    """How long ago the record was claimed: its expiry is the claim's time + WINDOW_SECONDS. A record whose expiry
    cannot be read counts as just claimed (so as held)."""
    try:
        expires = float(record[expiry_attr]["N"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    return time.time() - (expires - WINDOW_SECONDS)
