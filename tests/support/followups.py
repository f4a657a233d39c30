"""Follow-ups as tests meet them: the looks waiting in the handler's notice queue, lifecycle actions as moto records
them (local/moto_fidelity.py), and notices stamped relative to now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from local import moto_fidelity
from tests.support.events import load_event

ACCOUNT = "123456789012"
REGION = "us-east-2"
NOTICE_QUEUE = "handler-notices"  # the `account` fixture's notice queue (tests/conftest.py)
HOOK = "spot-interruption-drain"
IDEMPOTENCY_TABLE = "spot-idempotency"  # as AccountBuilder.idempotency_table creates it for a test


def follow_ups(account=None, queue: str = NOTICE_QUEUE, region: str = REGION) -> list[dict]:
    """Take every follow-up waiting in the notice queue, whatever its delay (as if the delay had passed)."""
    from moto.sqs.models import sqs_backends

    waiting = sqs_backends[ACCOUNT][region].get_queue(queue)
    with waiting._messages_lock:  # moto keeps delayed messages with the others, hidden until their delay passes
        bodies = [json.loads(message.body) for message in waiting._messages]
        waiting._messages.clear()
    return bodies


def delays(queue: str = NOTICE_QUEUE, region: str = REGION) -> list[float]:
    """Seconds until each message waiting in the queue becomes visible (its delay), without taking it."""
    from moto.sqs.models import sqs_backends

    waiting = sqs_backends[ACCOUNT][region].get_queue(queue)
    now = datetime.now(UTC).timestamp()
    with waiting._messages_lock:
        return [max(0.0, m.delayed_until / 1000 - now) for m in waiting._messages]  # moto keeps milliseconds


def completions() -> dict[str, dict]:
    return moto_fidelity.lifecycle_actions(ACCOUNT, REGION)


def now_iso(seconds_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="seconds").replace("+00:00", "Z")


def lifecycle_event(instance_id: str, group: str, seconds_ago: float = 0, **detail) -> dict:
    event = load_event("lifecycle-terminate.json", instance_id)
    event["time"] = now_iso(seconds_ago)
    event["detail"].update({"AutoScalingGroupName": group, **detail})
    return event


def spot_event(instance_id: str, seconds_ago: float = 0, name: str = "spot-interruption-instance-tg.json") -> dict:
    event = load_event(name, instance_id)
    event["time"] = now_iso(seconds_ago)
    return event


def batch(*bodies, ids: list[str] | None = None) -> dict:
    """An SQS batch of the bodies (dicts are sent as their JSON), each a message of its own."""
    return {
        "Records": [
            {"messageId": ids[i] if ids else f"m-{i}", "body": b if isinstance(b, str) else json.dumps(b)}
            for i, b in enumerate(bodies)
        ]
    }


def fleet_with_hook(account, heartbeat_timeout: int = 300, delay: int = 60, group: str = "web-asg"):
    """An Auto Scaling group of two attached to a target group, with the handler's terminate hook: (target group,
    its first instance, its second)."""
    b = account.builder
    arn = b.target_group(f"{group}-tg", "instance", delay=delay)
    members = b.auto_scaling_group(group, [arn], size=2)
    b.lifecycle_hook(group, HOOK, heartbeat_timeout=heartbeat_timeout)
    b.register(arn, members, ports=[80])
    return arn, members[0], members[1]


def deadline_look(account, seconds_ago: int = 60) -> tuple[str, dict]:
    """A Spot warning whose 120 s delay outlasts its deadline (delays left as they are): (its target group, the body of
    its deadline look). `account` is claimed in an idempotency table (the `guarded` fixture)."""
    b = account.builder
    arn = b.target_group("slow", "instance", delay=120)
    victim = b.spot_instance("slow-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])
    account.invoke(batch(spot_event(victim.instance_id, seconds_ago=seconds_ago)), max_deregistration_delay=None)
    account.alerts()
    [body] = follow_ups(account)
    return arn, body
