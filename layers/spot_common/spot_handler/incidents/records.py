"""The incident table's items: one per (account, instance), written with the drains of its signals."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import NamedTuple

from spot_handler.aws.dynamodb import batch_get, transact, update_if
from spot_handler.wording import iso_utc

KEEP_SECONDS = 7 * 24 * 3600  # TTL: a stopped Spot instance can stay stopped for days before EC2 starts it again
TRANSACTION_LIMIT = 100
MISSED = "missed"  # the signal of an interruption only the sweep found


class Registration(NamedTuple):
    """One target group registration a drain removed."""

    target_group: str
    target_id: str
    port: int | None
    availability_zone: str | None

    def as_target(self) -> dict:
        target: dict = {"Id": self.target_id}
        if self.port is not None:
            target["Port"] = self.port
        if self.availability_zone:
            target["AvailabilityZone"] = self.availability_zone
        return target

    def __str__(self) -> str:
        return f"{self.target_id}:{self.port}" if self.port is not None else self.target_id


class DrainRecord(NamedTuple):
    """What the drains of one instance took away, and whether it was put back."""

    account: str
    instance_id: str
    region: str
    last_signal: str  # the detail-type of the signal that drained it last (or MISSED)
    last_drained_at: datetime
    last_notice_id: str = ""  # the notice that drained it last: its alert's thread is the incident's
    registrations: frozenset[Registration] = frozenset()
    classic: frozenset[str] = frozenset()  # Classic Load Balancer names
    ecs: frozenset[tuple[str, str]] = frozenset()  # (cluster, container instance ARN) set to DRAINING
    delays: frozenset[tuple[str, int, int]] = frozenset()  # (target group, lowered from, to)
    restored_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Its last drain has not been put back: the instance is out of service by the handler's doing."""
        if not self.last_signal:  # no drain recorded (a sweep's mark released)
            return False
        return self.restored_at is None or self.restored_at < self.last_drained_at

    @property
    def took_away(self) -> bool:
        return bool(self.registrations or self.classic or self.ecs)


class Drain(NamedTuple):
    """What one signal's drain of one instance took away (from the drain steps' reports)."""

    account: str
    instance_id: str
    region: str
    signal: str
    drained_at: datetime
    registrations: list[Registration]
    classic: list[str]
    ecs: list[tuple[str, str]]
    delays: list[tuple[str, int, int]]
    notice_id: str = ""


def key(account: str, instance_id: str) -> dict:
    return {"id": {"S": f"{account}#{instance_id}"}}


def record_drains(dynamodb, table: str, drains: list[Drain]) -> list[str]:
    """Add the drains to their instances' items (one TransactWriteItems of Updates per 100): sets are added to, so a
    later signal's drain keeps an earlier one's. The errors, if any (each names the instances it concerns)."""
    errors = []
    actions = [_update(table, drain) for drain in drains]
    for start in range(0, len(actions), TRANSACTION_LIMIT):
        chunk = actions[start : start + TRANSACTION_LIMIT]
        cancelled = transact(dynamodb, chunk)
        if cancelled is not None:
            ids = [d.instance_id for d in drains[start : start + TRANSACTION_LIMIT]]
            errors.append(f"drain record of {', '.join(ids[:5])}: {cancelled.error}")
    return errors


def _update(table: str, drain: Drain) -> dict:
    names = {
        "#signal": "lastSignal",
        "#at": "lastDrainedAt",
        "#exp": "expiration",
        "#region": "region",
        "#notice": "lastNoticeId",
    }
    values = {
        ":notice": {"S": drain.notice_id or "unknown"},
        ":signal": {"S": drain.signal},
        ":at": {"S": iso_utc(drain.drained_at, millis=True)},
        ":exp": {"N": str(int(time.time()) + KEEP_SECONDS)},
        ":region": {"S": drain.region},
    }
    sets = ["#signal = :signal", "#at = :at", "#exp = :exp", "#region = :region", "#notice = :notice"]
    adds = []
    for name, items in (
        ("registrations", [json.dumps(list(r)) for r in drain.registrations]),
        ("classic", list(drain.classic)),
        ("ecs", [json.dumps(list(e)) for e in drain.ecs]),
        ("delays", [json.dumps(list(d)) for d in drain.delays]),
    ):
        if items:
            names[f"#{name}"] = name
            values[f":{name}"] = {"SS": sorted(set(items))}
            adds.append(f"#{name} :{name}")
    expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
    return {
        "Update": {
            "TableName": table,
            "Key": key(drain.account, drain.instance_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def read_records(dynamodb, table: str, instances: list[tuple[str, str]]) -> dict[tuple[str, str], DrainRecord]:
    """The records of (account, instance id) pairs that have one (BatchGetItem, consistent)."""
    if not instances:
        return {}
    items = batch_get(dynamodb, table, [key(a, i) for a, i in dict.fromkeys(instances)])
    records = {}
    for item in items:
        record = _record(item)
        records[(record.account, record.instance_id)] = record
    return records


def _record(item: dict) -> DrainRecord:
    account, instance_id = item["id"]["S"].split("#", 1)

    def strings(name: str) -> list[str]:
        return list(item.get(name, {}).get("SS", []))

    restored = item.get("restoredAt", {}).get("S")
    return DrainRecord(
        account=account,
        instance_id=instance_id,
        region=item.get("region", {}).get("S", "unknown"),
        last_signal=item.get("lastSignal", {}).get("S", ""),
        last_drained_at=_time(item.get("lastDrainedAt", {}).get("S")),
        last_notice_id=item.get("lastNoticeId", {}).get("S", ""),
        registrations=frozenset(Registration(*json.loads(r)) for r in strings("registrations")),
        classic=frozenset(strings("classic")),
        ecs=frozenset(tuple(json.loads(e)) for e in strings("ecs")),
        delays=frozenset(tuple(json.loads(d)) for d in strings("delays")),
        restored_at=_time(restored) if restored else None,
    )


def _time(text: str | None) -> datetime:
    if not text:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def mark_restored(dynamodb, table: str, record: DrainRecord, at: datetime) -> bool:
    """Claim the restore of this drain: restoredAt set, on condition that the record is still the one read (no new
    drain since, no other restore). False when it is not: someone else restores it, or a newer drain came."""
    return update_if(
        dynamodb,
        table,
        key(record.account, record.instance_id),
        "SET #restored = :at REMOVE #registrations, #classic, #ecs",
        "#drained = :drained AND (attribute_not_exists(#restored) OR #restored < :drained)",
        {
            "#restored": "restoredAt",
            "#drained": "lastDrainedAt",
            "#registrations": "registrations",
            "#classic": "classic",
            "#ecs": "ecs",
        },
        {":at": {"S": iso_utc(at, millis=True)}, ":drained": {"S": iso_utc(record.last_drained_at, millis=True)}},
    )


def mark_missed(dynamodb, table: str, account: str, instance_id: str, region: str, at: datetime) -> bool:
    """Claim the alert of an interruption only the sweep found: the instance's item now says MISSED, on condition
    that no drain of the handler's is open on it (none, or the last one restored). False: already covered."""
    return update_if(
        dynamodb,
        table,
        key(account, instance_id),
        "SET #signal = :signal, #at = :at, #exp = :exp, #region = :region",
        "attribute_not_exists(#at) OR (attribute_exists(#restored) AND #restored >= #at)",
        {
            "#signal": "lastSignal",
            "#at": "lastDrainedAt",
            "#exp": "expiration",
            "#region": "region",
            "#restored": "restoredAt",
        },
        {
            ":signal": {"S": MISSED},
            ":at": {"S": iso_utc(at, millis=True)},
            ":exp": {"N": str(int(time.time()) + KEEP_SECONDS)},
            ":region": {"S": region},
        },
    )


def release_missed(dynamodb, table: str, account: str, instance_id: str, at: datetime) -> bool:
    """Undo mark_missed when the alert it claimed did not go out: the next sweep finds the interruption again."""
    return update_if(
        dynamodb,
        table,
        key(account, instance_id),
        "REMOVE #signal, #at",
        "#signal = :signal AND #at = :at",
        {"#signal": "lastSignal", "#at": "lastDrainedAt"},
        {":signal": {"S": MISSED}, ":at": {"S": iso_utc(at, millis=True)}},
    )


def reopen(dynamodb, table: str, left: DrainRecord, restored_at: datetime) -> bool:
    """A restore that could not put everything back: the record is open again with only what is left (a later look
    tries again), on condition that it is still the restore this invocation marked."""
    names = {"#restored": "restoredAt"}
    values = {":at": {"S": iso_utc(restored_at, millis=True)}}
    adds = []
    for name, items in (
        ("registrations", [json.dumps(list(r)) for r in left.registrations]),
        ("classic", list(left.classic)),
        ("ecs", [json.dumps(list(e)) for e in left.ecs]),
    ):
        if items:
            names[f"#{name}"] = name
            values[f":{name}"] = {"SS": sorted(set(items))}
            adds.append(f"#{name} :{name}")
    update = "REMOVE #restored" + (" ADD " + ", ".join(adds) if adds else "")
    return update_if(dynamodb, table, key(left.account, left.instance_id), update, "#restored = :at", names, values)
