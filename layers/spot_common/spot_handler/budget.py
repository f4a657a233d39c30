"""The time budget of one invocation: the alert goes out on time even when an AWS dependency hangs.

Everything before the alert (instance lookup, idempotency claims, draining, checkpoints) runs against one work
deadline. Work that has not finished by then is named in the alert ("... did not finish within 10 s") and the alert
is published with what did finish. Each AWS call is bounded on its own as well (aws/clients.py: 2 s connect,
5 s read, 4 attempts); the budget bounds their sum, which retries alone could stretch past a minute.

The bound: PublishBatch is called at most WORK_SECONDS (10 s) after the handler starts, plus the time to compose
the alerts (milliseconds); in a batch of several accounts or regions, a group's last partial request may wait
alerting/publishing.LINGER_SECONDS (0.5 s) more for the other groups' alerts. So with SNS answering the alert is out
within ALERT_BOUND_SECONDS (15 s) of the handler starting, whatever EC2, ELB, Auto Scaling, DynamoDB, GameLift or a
member role's STS do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

WORK_SECONDS = 10.0
ALERT_BOUND_SECONDS = 15.0
MIN_WORK_SECONDS = 3.0  # a notice read close to its deadline still gets this long to drain
# Follow-ups and parking are waited for until then (from the handler's start): the handler answers well inside its
# 60 s Timeout, whatever a dependency does. Nothing is waited for past it.
TAIL_SECONDS = 25.0
# Of the work budget, the drain steps leave this much (at most half) to the owned steps after them (checkpoints,
# lifecycle completion, scheduling the looks that carry a failed drain through): a drain that hangs must not take
# from the interruption the look that drains it again.
OWNED_STEPS_RESERVE_SECONDS = 1.5
# Sending the looks the steps asked for gets at least this long, even past the work budget: within the alert's bound.
SCHEDULING_SECONDS = 2.0
DEADLINE_MARGIN_SECONDS = 5.0  # alert at least this long before the instance goes, when there is time for it
# Kept back from the Lambda's remaining time for PublishBatch (its own retries) and releasing the claims of alerts
# that failed.
PUBLISH_RESERVE_SECONDS = 35.0

T = TypeVar("T")


class DidNotFinish(RuntimeError):
    """Work that was still running when the budget ran out. The message names it for the alert."""

    def __init__(self, what: str, seconds: float):
        super().__init__(f"{what} did not finish within {seconds:.0f} s")


class TimeBudget(NamedTuple):
    started: float  # time.monotonic() when the handler started
    work_seconds: float  # how long work before the alert may take, from `started`

    @classmethod
    def start(cls, remaining_ms: int | None = None, work_seconds: float = WORK_SECONDS) -> TimeBudget:
        """The budget of an invocation starting now; `remaining_ms` is the Lambda context's remaining time."""
        if remaining_ms is not None:
            work_seconds = min(work_seconds, max(MIN_WORK_SECONDS, remaining_ms / 1000 - PUBLISH_RESERVE_SECONDS))
        return cls(started=time.monotonic(), work_seconds=work_seconds)

    def bounded_by(self, deadlines: Iterable[datetime | None], now: datetime) -> TimeBudget:
        """Shortened so the alert goes out before the earliest deadline still ahead (never below MIN_WORK_SECONDS).

        A deadline already past changes nothing: the instance is gone or about to be, and draining what is left is
        still worth the full budget.
        """
        ahead = [(d - now).total_seconds() for d in deadlines if d is not None and d > now]
        if not ahead:
            return self
        elapsed = time.monotonic() - self.started
        until_deadline = elapsed + min(ahead) - DEADLINE_MARGIN_SECONDS
        floor = min(MIN_WORK_SECONDS, self.work_seconds)  # never more than the budget it was given
        return self._replace(work_seconds=max(floor, min(self.work_seconds, until_deadline)))

    def leaving(self, seconds: float) -> TimeBudget:
        """This budget ending `seconds` earlier (at most half of it): for work that must leave time to what follows."""
        return self._replace(work_seconds=self.work_seconds - min(seconds, self.work_seconds / 2))

    def remaining(self) -> float:
        return max(0.0, self.started + self.work_seconds - time.monotonic())

    def wait(self, future: Future, what: str) -> Any:
        """The future's result, or DidNotFinish when the budget runs out first."""
        try:
            return future.result(timeout=self.remaining())
        except FutureTimeout:
            raise DidNotFinish(what, self.work_seconds) from None

    def run(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call fn in a worker thread and wait for it within the budget.

        Python cannot cancel a thread: work that runs out of budget runs on while the invocation does, and its result
        is ignored; once the handler returns, Lambda freezes it, so it may never finish. Every call it makes is
        idempotent (Describe*, DeregisterTargets, conditional DynamoDB writes), so finishing late does no harm, and
        what it did not confirm is drained again by a look (followups/).
        """
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget")
        try:
            return self.wait(pool.submit(fn, *args, **kwargs), what)
        finally:
            pool.shutdown(wait=False)
