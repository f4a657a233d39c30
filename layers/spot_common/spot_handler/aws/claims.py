"""Idempotency of interruptions: one alert and one checkpoint per interruption, however often its notice arrives.

Records are Powertools idempotency records in DynamoDB (DynamoDBPersistenceLayer, IdempotencyConfig with
expires_after_seconds; TTL attribute `expiration`). The key is the instance and the notice type, so it catches both
kinds of duplicate: EventBridge re-sending an event (same id, same instance and type) and EC2 sending another notice
for the same interruption (a new id, same instance and type). A record lasts WINDOW_SECONDS from its last write; a
later notice of the same type for the same instance is a new interruption.

Why the persistence layer directly and not @idempotent_function: the decorator claims, runs and completes one call.
A batch is handled as a whole (one DescribeInstances, one DeregisterTargets per target group, one PublishBatch per
ten alerts), so a notice is claimed before the lookup and completed only after its alert is published, at different
points of one flow. The calls below (save_inprogress, save_success, delete_record) are the ones the decorator makes,
so the records, their hashing, conditions and expiry are Powertools' own.
"""

from __future__ import annotations

import enum
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError

from spot_handler.aws.clients import AWS_ERRORS, describe_error
from spot_handler.models import InterruptionNotice

logger = Logger(child=True)

# 15 minutes: longer than EventBridge retries a delivery (MaximumEventAgeInSeconds 300) and than the two minutes an
# interruption lasts; shorter than the 4 x 360 s the queue keeps redelivering (VisibilityTimeout x maxReceiveCount - 1),
# so a claim left behind by a crashed invocation expires while its notice can still be redelivered.
WINDOW_SECONDS = 900
# A claim is held for the whole window even if its holder dies: a late alert is better than a doubled one, and every
# failure the handler sees releases its claims explicitly (see NoticeClaims.settle).
HOLD_MILLIS = WINDOW_SECONDS * 1000
MAX_PARALLEL_CLAIMS = 8
LATE_CLAIM_WAIT_SECONDS = 20.0  # how long settle() waits for a claim that answered after the work budget
STATUS_COMPLETED = "COMPLETED"


class Claim(enum.Enum):
    OWNED = "owned"  # this invocation claimed the interruption: it checkpoints and alerts
    DONE = "done"  # already alerted: a duplicate, reported success without doing anything
    BUSY = "busy"  # another invocation is handling it now: delivered again later
    UNKNOWN = "unknown"  # the table did not answer: drained, but checkpoint and alert wait for a redelivery


@dataclass
class ClaimResults:
    states: dict[str, Claim] = field(default_factory=dict)  # interruption key -> state
    reasons: dict[str, str] = field(default_factory=dict)  # interruption key -> why it is not OWNED
    late: dict[str, Future] = field(default_factory=dict)  # claims still running when the budget ran out

    def state(self, notice: InterruptionNotice) -> Claim:
        return self.states.get(notice.interruption_key, Claim.OWNED)

    def owned(self, notice: InterruptionNotice) -> bool:
        return self.state(notice) is Claim.OWNED

    def done(self, notice: InterruptionNotice) -> bool:
        return self.state(notice) is Claim.DONE

    def why_not_owned(self, notice: InterruptionNotice) -> str:
        return self.reasons.get(notice.interruption_key, "")


class PendingClaims:
    """Claims running in the background while the instances are looked up."""

    def __init__(self, futures: dict[str, Future], pool: ThreadPoolExecutor | None):
        self._futures = futures
        self._pool = pool

    def wait(self, budget) -> ClaimResults:
        results = ClaimResults()
        for key, future in self._futures.items():
            try:
                state, reason = future.result(timeout=budget.remaining())
            except FutureTimeout:
                results.late[key] = future
                state, reason = Claim.UNKNOWN, f"idempotency claim did not finish within {budget.work_seconds:.0f} s"
            results.states[key] = state
            if reason:
                results.reasons[key] = reason
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        return results


class NoticeClaims:
    """Claim, complete and release interruptions in the idempotency table. Without a table every notice is OWNED."""

    def __init__(self, layer: DynamoDBPersistenceLayer | None):
        self._layer = layer

    @classmethod
    def open(cls, dynamodb, table_name: str) -> "NoticeClaims":
        if not table_name:
            return cls(None)
        layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        layer.configure(
            IdempotencyConfig(event_key_jmespath="[instance, kind]", expires_after_seconds=WINDOW_SECONDS),
            function_name="interruption",
        )
        return cls(layer)

    def start(self, notices: list[InterruptionNotice]) -> PendingClaims:
        """Claim every interruption of the batch, in parallel and in the background."""
        if self._layer is None or not notices:
            return PendingClaims({}, None)
        unique = {n.interruption_key: n for n in notices}
        pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CLAIMS, len(unique)), thread_name_prefix="claim")
        return PendingClaims({key: pool.submit(self._claim, notice) for key, notice in unique.items()}, pool)

    def _claim(self, notice: InterruptionNotice) -> tuple[Claim, str]:
        try:
            self._layer.save_inprogress(_record_data(notice), remaining_time_in_millis=HOLD_MILLIS)
            return Claim.OWNED, ""
        except IdempotencyItemAlreadyExistsError as exc:
            record = exc.old_data_record
            if record is not None and record.status == STATUS_COMPLETED:
                return Claim.DONE, "duplicate: this interruption was already alerted"
            return Claim.BUSY, "another invocation is handling this interruption; delivered again later"
        except AWS_ERRORS as exc:
            return Claim.UNKNOWN, f"idempotency table: {describe_error(exc)}"

    def settle(self, claims: ClaimResults, alerted: list[InterruptionNotice], not_alerted: list[InterruptionNotice]):
        """Complete the claims of notices whose alert went out (or that needed none); release the others.

        A released claim lets the redelivered notice be claimed again. A claim that answered after the budget is
        released if it turned out to be ours, since its notice was not alerted. Failures are logged, not raised: the
        alerts are out, and a claim that stays in progress only holds duplicates back until the window ends.
        """
        if self._layer is None:
            return
        for notice in alerted:
            if claims.owned(notice):
                self._write("complete", notice, lambda n: self._layer.save_success(_record_data(n), {"noticeId": n.notice_id}))
        for notice in not_alerted:
            if claims.owned(notice):
                self._release(notice)
        late = {n.interruption_key: n for n in not_alerted if n.interruption_key in claims.late}
        for key, notice in late.items():
            try:
                state, _ = claims.late[key].result(timeout=LATE_CLAIM_WAIT_SECONDS)
            except FutureTimeout:
                logger.error("idempotency claim still unanswered; it holds duplicates back until the window ends",
                             extra={"instance_id": notice.instance_id})
                continue
            if state is Claim.OWNED:
                self._release(notice)

    def _release(self, notice: InterruptionNotice) -> None:
        self._write("release", notice, lambda n: self._layer.delete_record(_record_data(n), RuntimeError("not alerted")))

    @staticmethod
    def _write(what: str, notice: InterruptionNotice, write) -> None:
        try:
            write(notice)
        except AWS_ERRORS as exc:
            logger.error(
                f"could not {what} the idempotency record",
                extra={"instance_id": notice.instance_id, "notice_id": notice.notice_id, "error": describe_error(exc)},
            )


def _record_data(notice: InterruptionNotice) -> dict[str, str]:
    return {"instance": notice.instance_id, "kind": notice.kind.value, "noticeId": notice.notice_id}
