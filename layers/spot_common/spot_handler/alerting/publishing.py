"""The publishing pool: one stream of PublishBatch requests for the (account, region) groups of one batch."""

from __future__ import annotations

import threading
import time

from spot_handler.aws.clients import describe_error
from spot_handler.aws.sns import PUBLISH_BATCH_MAX, OutgoingAlert, publish_alerts, publish_batches

# How long one group's last, partial PublishBatch waits for other groups' alerts to fill it (BatchPublisher).
LINGER_SECONDS = 0.5

_SEND_WAIT_SECONDS = 5.0  # how often a group whose alerts another thread is sending looks again


class BatchPublisher:
    """One stream of PublishBatch requests for the (account, region) groups of one batch
    (account_regions.handle_by_account_region).

    Every group publishes its full requests (ten alerts) at once. Its last, partial request is pooled with the other
    groups' instead of sent alone: the pool goes out when it holds ten alerts, when every group has handed in its
    alerts, or LINGER_SECONDS after a group handed in its remainder, whichever comes first. So a batch of N alerts
    over G groups takes about N / 10 requests rather than up to N / 10 + G, and no group's alerts wait on a slower
    group for more than LINGER_SECONDS. The topic is the hub's, so pooling changes nothing a subscriber sees.

    Each group calls publish() once (a group that ends without alerting calls leave() instead, or after it: a second
    call is a no-op) and gets back what publish_alerts returns: {entry_id: error} for each of its alerts not sent.
    """

    def __init__(self, sns, topic_arn: str, groups: int, linger_seconds: float = LINGER_SECONDS):
        self._sns, self._topic_arn, self._linger = sns, topic_arn, linger_seconds
        self._open = groups  # groups that have not handed in their alerts
        self._handed_in: set[int] = set()
        self._pool: list[tuple[OutgoingAlert, dict[str, str], str]] = []  # (alert, its group's failures, its own id)
        self._pending: set[str] = set()  # pooled entry ids not yet answered
        self._lock = threading.Condition()
        self._next_id = 0

    def publish(self, group: int, alerts: list[OutgoingAlert]) -> dict[str, str]:
        requests = publish_batches(alerts)
        partial = requests.pop() if requests and len(requests[-1]) < PUBLISH_BATCH_MAX else []
        failed = publish_alerts(self._sns, self._topic_arn, [alert for request in requests for alert in request])
        mine = self._hand_in(group, partial, failed)
        if mine is None:  # this group had handed in already (or left): nothing of its alerts may be dropped
            return failed | publish_alerts(self._sns, self._topic_arn, partial)
        deadline = time.monotonic() + self._linger
        while True:
            with self._lock:
                if not (mine & self._pending):
                    return failed
                pooled = any(alert.entry_id in mine for alert, _, _ in self._pool)
                left = deadline - time.monotonic()
                if not pooled or left > 0:  # being sent by another group's thread, or still lingering
                    self._lock.wait(left if pooled else _SEND_WAIT_SECONDS)
                    continue
                taken = self._take(everything=True)  # lingered long enough: send what the pool holds
            self._send(taken)

    def leave(self, group: int) -> None:
        """A group that publishes nothing (it failed before its alerts): the others stop waiting for it."""
        self._hand_in(group, [], {})

    def _hand_in(self, group: int, alerts: list[OutgoingAlert], failed: dict[str, str]) -> set[str] | None:
        """Pool a group's partial request; the pooled ids, or None when the group had handed in already."""
        with self._lock:
            if group in self._handed_in:
                return None
            self._handed_in.add(group)
            self._open -= 1
            mine = set()
            for alert in alerts:
                pooled_id = f"{self._next_id}"
                self._next_id += 1
                self._pool.append((alert._replace(entry_id=pooled_id), failed, alert.entry_id))
                mine.add(pooled_id)
            self._pending |= mine
            ready = self._take(everything=not self._open)
        self._send(ready)
        return mine

    def _take(self, everything: bool) -> list[tuple[OutgoingAlert, dict[str, str], str]]:
        """Under the lock: the pooled alerts to send now (full requests only, unless `everything`)."""
        if everything:
            taken, self._pool = self._pool, []
        else:
            count = len(self._pool) - len(self._pool) % PUBLISH_BATCH_MAX
            taken, self._pool = self._pool[:count], self._pool[count:]
        return taken

    def _send(self, taken: list[tuple[OutgoingAlert, dict[str, str], str]]) -> None:
        if not taken:
            return
        try:
            failures = publish_alerts(self._sns, self._topic_arn, [alert for alert, _, _ in taken])
        except Exception as exc:  # noqa: BLE001 - a waiting group must hear of its alerts whatever happened
            failures = {alert.entry_id: describe_error(exc) for alert, _, _ in taken}
        with self._lock:
            for alert, group_failed, entry_id in taken:
                if alert.entry_id in failures:
                    group_failed[entry_id] = failures[alert.entry_id]
                self._pending.discard(alert.entry_id)
            self._lock.notify_all()
