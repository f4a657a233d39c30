"""What every signal shares: the EventBridge envelope (id, source, detail-type, time, account, region, detail) and
the checks of the fields several signals carry. A signal module reads only its own `detail`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from spot_handler.models import (
    INSTANCE_ID_PATTERN,
    InterruptionNotice,
    LifecycleAction,
    MalformedNotice,
    NoticeKind,
    shown,
)

ACTIONS = ("terminate", "stop", "hibernate")
INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
_ACCOUNT = re.compile(r"[0-9]{12}|unknown")  # [0-9], not \d: \d takes any script's digits
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Detail(NamedTuple):
    """What a signal reads from its event's detail."""

    instance_id: str | None
    action: str | None = None
    termination: datetime | None = None  # a termination time the event names (Capacity Reservations)
    lifecycle: LifecycleAction | None = None
    state: str | None = None  # the state a state-change notification names


def from_json(body: Any) -> Any:
    """A record's body as a value: text is read as JSON (MalformedNotice if it is not), anything else kept."""
    if not isinstance(body, (str, bytes, bytearray)):
        return body
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser's stack
        raise MalformedNotice(f"body: not JSON ({shown(exc)})") from None


def notice_of(event: Any, kinds: dict[str, NoticeKind], read_detail) -> InterruptionNotice:
    """The notice an EventBridge event is (a dict already decoded), or MalformedNotice naming what does not fit.

    `kinds`: detail-type -> kind; `read_detail(kind, detail, problems)`: the signal's own reading of its detail.
    Only what the handler uses is checked; any other field, documented or not, is accepted and ignored.
    """
    if not isinstance(event, dict):
        raise MalformedNotice(f"body: expected a JSON object, got {type(event).__name__}")
    problems: list[str] = []
    notice_id = text(event.get("id"), "id", problems, max_length=128)
    detail_type = event.get("detail-type")
    kind = kinds.get(detail_type) if isinstance(detail_type, str) else None
    source = kind.source if kind else "aws.ec2"
    if event.get("source") != source:
        problems.append(f"source: expected {source!r}, got {shown(event.get('source'))}")
    if kind is None:
        problems.append(f"detail-type: not a notice this handler supports: {shown(detail_type)}")
    noticed_at = timestamp(event.get("time"), "time", problems)
    account = event.get("account", "unknown")
    if not (isinstance(account, str) and _ACCOUNT.fullmatch(account)):
        problems.append(f"account: expected 12 digits, got {shown(account)}")
    # Nothing the handler does needs account or region: a notice without them is still acted on.
    region = text(event.get("region", "unknown"), "region", problems)

    detail = event.get("detail")
    read = Detail(None)
    if not isinstance(detail, dict):
        problems.append(f"detail: expected an object, got {type(detail).__name__}")
    elif kind is not None:
        read = read_detail(kind, detail, problems)
    else:  # an unknown detail-type: its instance id is still named, when it is wrong too
        instance_and_action(detail, problems, action_required=False)

    deadline = None
    if not problems and kind is not None and kind.warning_seconds is not None:
        # Spot notices carry no termination time: the deadline is the notice's time + 120 s.
        try:
            deadline = read.termination or noticed_at + timedelta(seconds=kind.warning_seconds)
        except OverflowError:
            problems.append(f"time: no deadline can follow {noticed_at.isoformat()} (past the last date there is)")
    if problems:
        raise MalformedNotice("; ".join(problems[:3]))
    return InterruptionNotice(
        notice_id=notice_id,
        kind=kind,
        instance_id=read.instance_id,
        action=read.action,
        noticed_at=noticed_at,
        deadline=deadline,
        region=region,
        account=account,
        lifecycle=read.lifecycle,
        state=read.state,
    )


def instance_and_action(detail: dict, problems: list[str], action_required: bool) -> Detail:
    """`detail.instance-id`, `detail.instance-action` and `detail.instance-termination-time`, as EC2's interruption
    signals write them."""
    instance_id = detail.get("instance-id")
    # fullmatch: `$` alone would accept a trailing newline, and the id would name another instance.
    if not (isinstance(instance_id, str) and INSTANCE_ID.fullmatch(instance_id)):
        problems.append(f"detail.instance-id: not an instance id: {shown(instance_id)}")
    action = detail.get("instance-action")
    if action is None and action_required:
        problems.append("detail.instance-action is missing")
    elif action is not None and not (isinstance(action, str) and action in ACTIONS):
        problems.append(f"detail.instance-action: expected one of {', '.join(ACTIONS)}, got {shown(action)}")
    termination = None
    if detail.get("instance-termination-time") is not None:
        termination = timestamp(detail["instance-termination-time"], "detail.instance-termination-time", problems)
    return Detail(instance_id, action, termination)


def text(value: Any, where: str, problems: list[str], max_length: int = 256) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        problems.append(f"{where}: expected text of 1 to {max_length} characters, got {shown(value)}")
        return ""
    return value


def timestamp(value: Any, where: str, problems: list[str]) -> datetime:
    """An ISO 8601 time as EventBridge writes it (2026-11-26T10:00:00Z), in UTC; a time without a zone is UTC.

    Converted to UTC here, once: a time at the edge of what datetime holds (year 1 with a positive offset, year 9999
    with a negative one) cannot be converted, and is rejected here rather than failing the alert later.
    """
    if not isinstance(value, str):
        problems.append(f"{where}: expected an ISO 8601 time as text, got {shown(value)}")
        return _EPOCH
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        problems.append(f"{where}: not a time this handler can use: {shown(value)} ({exc})")
        return _EPOCH
