"""The alert: one subject, an e-mail text a person reads on a phone, and JSON of the same facts for machines."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

from spot_handler.aws.notify import OutgoingAlert
from spot_handler.outcome import InterruptionOutcome

SUBJECT_MAX = 99  # SNS allows 100 characters; stay under
EMAIL_WIDTH = 72


def compose_alert(outcome: InterruptionOutcome, entry_id: str) -> OutgoingAlert:
    text = email_text(outcome)
    document = alert_document(outcome)
    as_json = json.dumps(document, separators=(",", ":"))
    message = {
        "default": text,
        "email": text,
        "sms": short_text(outcome),
        "email-json": as_json,
        "sqs": as_json,
        "lambda": as_json,
        "http": as_json,
        "https": as_json,
        "firehose": as_json,
    }
    notice = outcome.plan.notice
    instance = outcome.plan.instance
    return OutgoingAlert(
        entry_id=entry_id,
        subject=subject(outcome),
        message=json.dumps(message),
        attributes={
            "event_type": notice.kind.value,
            "instance_id": notice.instance_id,
            "availability_zone": instance.availability_zone if instance else "unknown",
            "outcome": outcome.status,
        },
    )


def subject(outcome: InterruptionOutcome) -> str:
    notice = outcome.plan.notice
    instance = outcome.plan.instance
    where = instance.availability_zone if instance else notice.region
    verb = notice.action if notice.is_interruption else "rebalance"
    tail = f" {verb} in {where}: {_SUBJECT_STATUS[outcome.status]}"
    head = f"{notice.kind.label}: {notice.instance_id}"
    name = instance.name if instance else None
    if name:
        room = SUBJECT_MAX - len(head) - len(tail) - 3
        if room >= 4:
            head += f" ({_clip(name, room)})"
    text = " ".join((head + tail).split())  # no line breaks, whatever the tags hold
    return _clip(text, SUBJECT_MAX)


_SUBJECT_STATUS = {
    "drained": "drained",
    "partial": "drained with failures",
    "failed": "drain FAILED",
    "nothing-to-drain": "nothing to drain",
    "checkpointed": "game sessions saved",
    "alert-only": "no action",
    "instance-not-found": "instance not found",
}


def email_text(outcome: InterruptionOutcome) -> str:
    plan = outcome.plan
    notice = plan.notice
    instance = plan.instance
    lines = [_headline(outcome), ""]
    name = f" ({instance.name})" if instance and instance.name else ""
    lines.append(f"Instance  {notice.instance_id}{name}")
    if instance:
        market = "Spot" if instance.lifecycle == "spot" else instance.lifecycle
        lines.append(f"Type      {instance.instance_type}, {market}, {instance.state}")
        lines.append(f"Zone      {instance.availability_zone} ({notice.region})")
    else:
        lines.append(f"Region    {notice.region}")
        lines.append("State     not found: already terminated, or not in this account and region")
    lines.append(f"Action    {notice.action_label}")
    lines.append(f"Notice    {_when(notice.noticed_at)}")
    if notice.deadline:
        lines.append(f"Deadline  {_when(notice.deadline)}")
    if outcome.seconds_left is not None:
        lines.append(f"Drained   {outcome.seconds_left:.0f} s before the deadline")
    lines += ["", "Target groups"]
    lines += _drain_lines(outcome)
    if outcome.gamelift is not None:
        lines += ["", "GameLift"]
        lines += outcome.gamelift.summary_lines()
    failures = outcome.failures
    lines += ["", f"Failures ({len(failures)})" if failures else "Failures: none"]
    lines += [f"- {failure}" for failure in failures]
    lines += ["", f"Notice id {notice.notice_id}"]
    if notice.account != "unknown":
        lines.append(f"Account {notice.account}")
    return "\n".join(wrapped for line in lines for wrapped in _wrap(line)) + "\n"


def _wrap(line: str) -> list[str]:
    """Lines of at most EMAIL_WIDTH characters (read on a phone), continuation lines indented under their item."""
    if len(line) <= EMAIL_WIDTH or " " not in line.strip():
        return [line]  # short enough, or one long id that must stay whole
    indent = " " * (len(line) - len(line.lstrip(" -")))
    # Ids and ARNs are never split: a person copies them from the e-mail.
    wrapped = textwrap.wrap(
        line, EMAIL_WIDTH, subsequent_indent=indent + "  ", break_on_hyphens=False, break_long_words=False
    )
    return wrapped or [line]


def _headline(outcome: InterruptionOutcome) -> str:
    notice = outcome.plan.notice
    if not notice.is_interruption:
        return f"{notice.kind.label} for {notice.instance_id}: EC2 may interrupt it soon."
    return f"{notice.kind.label}: EC2 will {notice.action} {notice.instance_id} by the deadline."


def _drain_lines(outcome: InterruptionOutcome) -> list[str]:
    plan = outcome.plan
    if plan.lookup_error:
        return [f"- nothing drained: the instance could not be looked up ({plan.lookup_error})"]
    if plan.instance is None:
        return ["- nothing drained: the instance was not found"]
    if not plan.drain:
        return ["- not drained: rebalance recommendations only alert (DrainOnRebalance=false)"]
    if not outcome.drains:
        return ["- nothing to drain: no target group tag and no Auto Scaling group target groups"]
    lines = []
    for drain in outcome.drains:
        kind = f" ({drain.target_type})" if drain.target_type else ""
        lines.append(f"- {drain.name}{kind}")
        if drain.error and not drain.deregistered:
            lines.append(f"    FAILED: {drain.error}")
            continue
        if drain.not_registered:
            lines.append("    was not registered (done)")
        else:
            lines.append("    deregistered " + ", ".join(drain.deregistered))
        if drain.error:
            lines.append(f"    {drain.error}")
        if drain.delay_lowered_from is not None:
            lines.append(f"    delay lowered {drain.delay_lowered_from} s -> {drain.delay_seconds} s")
        elif drain.delay_seconds is not None and not drain.not_registered:
            lines.append(f"    delay {drain.delay_seconds} s")
    return lines


def short_text(outcome: InterruptionOutcome) -> str:
    return subject(outcome)


def alert_document(outcome: InterruptionOutcome) -> dict:
    """The machine-readable alert (SQS, Lambda, HTTPS subscribers)."""
    plan = outcome.plan
    notice = plan.notice
    instance = plan.instance
    return {
        "schema": "spot-interruption-alert/1",
        "noticeId": notice.notice_id,
        "detailType": notice.kind.value,
        "action": notice.action,
        "instanceId": notice.instance_id,
        "instanceName": instance.name if instance else None,
        "instanceType": instance.instance_type if instance else None,
        "availabilityZone": instance.availability_zone if instance else None,
        "instanceFound": instance is not None,
        "region": notice.region,
        "account": notice.account,
        "noticeTime": _iso(notice.noticed_at),
        "deadline": _iso(notice.deadline) if notice.deadline else None,
        "outcome": outcome.status,
        "drainRequested": plan.drain,
        "secondsLeftAtDrain": round(outcome.seconds_left, 1) if outcome.seconds_left is not None else None,
        "targetGroups": [
            {
                "arn": d.target_group_arn,
                "name": d.name,
                "targetType": d.target_type,
                "deregistered": d.deregistered,
                "notRegistered": d.not_registered,
                "deregistrationDelaySeconds": d.delay_seconds,
                "delayLoweredFromSeconds": d.delay_lowered_from,
                "error": d.error,
            }
            for d in outcome.drains
        ],
        "gameLift": outcome.gamelift.document() if outcome.gamelift is not None else None,
        "failures": outcome.failures,
    }


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
