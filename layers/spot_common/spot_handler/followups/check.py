"""A follow-up look: what the handler checks again later about one interruption, and its message format.

A look is one JSON object in a delayed message on the notice queue (SQS DelaySeconds). The handler writes the format
and reads it back, so `parse_checks` is strict: a body claiming to be a follow-up that does not fit exactly (a field
of the wrong type, a time without a zone, an unknown kind) is a MalformedNotice, parked in the DLQ with the field at
fault, never an error of the batch.

Identity: every look belongs to a chain (one per signal that asked for follow-ups) and has a place in it; `look_id`
(chain#sequence) names it. The next look of a chain is sequence + 1 whoever schedules it, so two copies of one look
that both schedule the next schedule the same look, and its claim (followups/batch.py) lets only one act.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from spot_handler.models import MalformedNotice, NoticeKind, shown
from spot_handler.signals import kind_of, spot_warning
from spot_handler.wording import iso_utc

SOURCE = "spot-interruption-handler"
DETAIL_TYPE = "Drain follow-up"
LIFECYCLE = "lifecycle"  # a terminate lifecycle action waiting for its instance to be drained
DEADLINE = "deadline"  # an interruption with a deadline (or a horizon): drained again until confirmed, looked at last
RESTORE = "restore"  # a rebalance-only drain: put back then unless an interruption followed (restore/)
KINDS = (LIFECYCLE, DEADLINE, RESTORE)


@dataclass
class Check:
    """One look at one instance: what was taken out of service, what failed and is drained again, what to do then."""

    kind: str
    account: str
    region: str
    instance_id: str
    notice_id: str
    due: datetime  # when to look
    deregistered_at: datetime  # when its registrations were deregistered (or found draining), at the latest
    targets: dict[str, list[str]]  # target group ARN -> "id:port" registrations deregistered
    delays: dict[str, int | None] = field(default_factory=dict)  # target group ARN -> delay in force, seconds
    chain: str = ""  # the chain of looks this one belongs to
    sequence: int = 0  # its place in the chain
    attempt: int = 0  # sends of this same look after its work failed (an alert SNS refused, a look not scheduled)
    tries: int = 0  # looks in a row of this chain that drained again what failed (they back off)
    detail_type: str = spot_warning.KIND.value  # the signal that started the chain
    action: str | None = None  # the notice's instance-action (terminate, stop, hibernate)
    noticed_at: datetime | None = None
    classic: dict[str, int | None] = field(default_factory=dict)  # Classic LB -> connection draining in force
    ecs_cluster: str = ""  # the ECS container instance set to DRAINING, and how many of its tasks no service owns
    ecs_container_instance: str = ""
    ecs_standalone_tasks: int = 0
    redrain: list[str] = field(default_factory=list)  # what failed or was not confirmed: drained again at this look
    unreadable_since: datetime | None = None  # draining state could not be read since then (lifecycle)
    # A look whose alert could not be sent is sent again with what it decided: the alert, and why
    alert_outcome: str | None = None
    alert_why: list[str] = field(default_factory=list)
    # lifecycle
    group: str = ""
    hook: str = ""
    token: str = ""
    destination: str | None = None
    heartbeat_timeout: int = 0
    heartbeat_expires: datetime | None = None
    global_expires: datetime | None = None
    failed_completions: int = 0  # CompleteLifecycleAction calls that failed; it gives up after COMPLETION_TRIES
    # deadline
    deadline: datetime | None = None  # the interruption's deadline (a rebalance drain: its horizon; restore: when)
    availability_zone: str | None = None
    instance_name: str | None = None

    @property
    def look_id(self) -> str:
        return f"{self.chain}#{self.sequence}"

    @property
    def signal(self) -> NoticeKind:
        return kind_of(self.detail_type)

    def next_look(self, due: datetime, **changes: Any) -> Check:
        """The next look of the chain."""
        return dataclasses.replace(self, due=due, sequence=self.sequence + 1, attempt=0, **changes)


class LookClaim(NamedTuple):
    """What the idempotency table is told of a look (idempotency/claims.py claims notices and looks alike)."""

    claim_key: str
    claim_data: dict[str, str]
    deliveries: tuple[str, ...]
    instance_id: str
    notice_id: str


def look_claim(check: Check, deliveries: tuple[str, ...]) -> LookClaim:
    """The claim of one attempt at a look: copies of it share one; the same look sent again after its work failed is a
    new attempt, claimed afresh (its first attempt's claim may not have been released)."""
    incident = f"follow-up#{check.look_id}#{check.attempt}"
    return LookClaim(
        claim_key=f"{check.account}#{check.instance_id}#{incident}",
        claim_data={
            "account": check.account,
            "instance": check.instance_id,
            "incident": incident,
            "noticeId": check.notice_id,
        },
        deliveries=deliveries,
        instance_id=check.instance_id,
        notice_id=check.notice_id,
    )


# ---- the message format ----------------------------------------------------------------------------------------

_TIME = "time"
_TARGETS = "targets"
_DELAYS = "delays"
_NAMES = "names"
_OPTIONAL_TEXT = "text or null"
# Every field and the type its JSON value must have.
_FIELDS: dict[str, Any] = {
    "kind": str,
    "account": str,
    "region": str,
    "instance_id": str,
    "notice_id": str,
    "due": _TIME,
    "deregistered_at": _TIME,
    "targets": _TARGETS,
    "delays": _DELAYS,
    "chain": str,
    "sequence": int,
    "attempt": int,
    "tries": int,
    "detail_type": str,
    "action": _OPTIONAL_TEXT,
    "noticed_at": _TIME,
    "classic": _DELAYS,
    "ecs_cluster": str,
    "ecs_container_instance": str,
    "ecs_standalone_tasks": int,
    "redrain": _NAMES,
    "unreadable_since": _TIME,
    "alert_outcome": _OPTIONAL_TEXT,
    "alert_why": _NAMES,
    "group": str,
    "hook": str,
    "token": str,
    "destination": _OPTIONAL_TEXT,
    "heartbeat_timeout": int,
    "heartbeat_expires": _TIME,
    "global_expires": _TIME,
    "failed_completions": int,
    "deadline": _TIME,
    "availability_zone": _OPTIONAL_TEXT,
    "instance_name": _OPTIONAL_TEXT,
}
_REQUIRED = ("kind", "account", "region", "instance_id", "notice_id", "due", "deregistered_at", "targets")
_NULLABLE_TIMES = ("noticed_at", "unreadable_since", "heartbeat_expires", "global_expires", "deadline")
_MAX_TEXT = 2048


def follow_up_body(checks: list[Check]) -> dict:
    return {
        "source": SOURCE,
        "detail-type": DETAIL_TYPE,
        "checks": [
            {k: iso_utc(v) if _FIELDS[k] == _TIME else v for k, v in dataclasses.asdict(check).items()}
            for check in checks
        ],
    }


def is_follow_up(body: object) -> bool:
    return isinstance(body, dict) and body.get("source") == SOURCE


def parse_checks(body: dict) -> list[Check]:
    """The checks of a follow-up message, or MalformedNotice naming the first field that does not fit."""
    checks = body.get("checks")
    if body.get("detail-type") != DETAIL_TYPE or not isinstance(checks, list) or not checks:
        raise MalformedNotice(f"checks: a follow-up carries a list of checks, got {shown(checks)}")
    return [_check(raw, f"checks[{index}]") for index, raw in enumerate(checks)]


def _check(raw: Any, where: str) -> Check:
    if not isinstance(raw, dict):
        raise MalformedNotice(f"{where}: not a check: {shown(raw)}")
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise MalformedNotice(f"{where}: not a field of a check: {shown(unknown[0])}")
    missing = [name for name in _REQUIRED if name not in raw]
    if missing:
        raise MalformedNotice(f"{where}.{missing[0]} is missing")
    values = {name: _value(raw[name], _FIELDS[name], f"{where}.{name}", name) for name in raw}
    check = Check(**values)
    if check.kind not in KINDS:
        raise MalformedNotice(f"{where}.kind: expected one of {', '.join(KINDS)}, got {shown(check.kind)}")
    try:
        kind_of(check.detail_type)
    except ValueError:
        raise MalformedNotice(
            f"{where}.detail_type: not a signal this handler makes: {shown(check.detail_type)}"
        ) from None
    if check.kind in (DEADLINE, RESTORE) and check.deadline is None:
        raise MalformedNotice(f"{where}.deadline is missing")
    if check.kind == LIFECYCLE and not (check.group and check.hook and check.token):
        raise MalformedNotice(f"{where}.token: a lifecycle check names its group, hook and token")
    if check.sequence < 0 or check.attempt < 0:
        raise MalformedNotice(f"{where}.sequence: a look's place and attempts are not negative")
    return check


def _value(value: Any, kind: Any, where: str, name: str) -> Any:
    if kind == _TIME:
        if value is None and name in _NULLABLE_TIMES:
            return None
        return _time(value, where)
    if kind is str:
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            raise MalformedNotice(f"{where}: expected text, got {shown(value)}")
        return value
    if kind == _OPTIONAL_TEXT:
        if value is not None and (not isinstance(value, str) or len(value) > _MAX_TEXT):
            raise MalformedNotice(f"{where}: expected text or null, got {shown(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**53) < value < 2**53:
            raise MalformedNotice(f"{where}: expected a whole number, got {shown(value)}")
        return value
    if kind == _NAMES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MalformedNotice(f"{where}: expected a list of text, got {shown(value)}")
        return value
    if kind == _TARGETS:
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in value.values()
        ):
            raise MalformedNotice(f"{where}: expected {{ARN: [registration, ...]}}, got {shown(value)}")
        return value
    if kind == _DELAYS:
        ok = isinstance(value, dict) and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 86_400) for v in value.values()
        )
        if not ok:
            raise MalformedNotice(f"{where}: expected {{name: seconds or null}}, got {shown(value)}")
        return value
    raise AssertionError(kind)  # pragma: no cover - every field has a kind above


def _time(value: Any, where: str) -> datetime:
    """An ISO 8601 time with its zone, as follow_up_body writes it: a time without one is not ours."""
    if not isinstance(value, str):
        raise MalformedNotice(f"{where}: expected an ISO 8601 time as text, got {shown(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedNotice(f"{where}: not a time: {shown(value)}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MalformedNotice(f"{where}: a time without its zone: {shown(value)}")
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise MalformedNotice(f"{where}: not a time this handler can use: {shown(value)}") from None
