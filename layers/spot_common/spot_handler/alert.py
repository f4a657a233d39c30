"""The alert: one subject, an e-mail text a person reads on a phone, and JSON of the same facts for machines."""

from __future__ import annotations

import json
import textwrap
import unicodedata
from datetime import datetime

from spot_handler.alerting.chat import with_chat
from spot_handler.aws.notify import ALERT_MAX_BYTES, OutgoingAlert, entry_bytes
from spot_handler.models import target_group_name
from spot_handler.outcome import InterruptionOutcome
from spot_handler.wording import iso_utc, when

SUBJECT_MAX = 99  # SNS: "less than 100 characters"
EMAIL_WIDTH = 72
# Most items an alert lists one by one in each list (registrations of a target group, game sessions, failures); past
# that it lists the first ones and counts the rest, so one alert fits SNS however large the instance. Counts stay exact.
LISTED_MAX = 20
_LISTING_STEPS = (LISTED_MAX, 3, 0)  # tried in turn until the alert fits ALERT_MAX_BYTES


def compose_alert(outcome: InterruptionOutcome, entry_id: str) -> OutgoingAlert:
    """The alert for one outcome, within ALERT_MAX_BYTES: lists are shortened (never the counts) until it fits. Its
    chat message (alerting/chat.py) is made from the fitted alert, within a bound of its own."""
    for listed in _LISTING_STEPS:
        alert = _compose(outcome, entry_id, listed)
        if entry_bytes(alert) <= ALERT_MAX_BYTES:
            return with_chat(alert)
    return with_chat(_compose(outcome, entry_id, 0, details=False))


def _compose(outcome: InterruptionOutcome, entry_id: str, listed: int, details: bool = True) -> OutgoingAlert:
    text = email_text(outcome, listed) if details else _headline(outcome) + "\n\n" + _too_large(outcome)
    document = alert_document(outcome, listed) if details else _counts_document(outcome)
    notice = outcome.plan.notice
    instance = outcome.plan.instance
    attributes = {
        "event_type": notice.kind.value,
        "instance_id": notice.instance_id,
        "availability_zone": instance.availability_zone if instance else "",
        "outcome": outcome.status,
        # A team subscribes with a filter policy on its own accounts (and regions) of the organization.
        "account_id": notice.account,
        "region": notice.region,
    }
    return envelope(entry_id, subject(outcome), text, document, attributes)


def envelope(entry_id: str, title: str, text: str, document: dict, attributes: dict[str, str]) -> OutgoingAlert:
    """One alert as SNS takes it (MessageStructure json), for every message of an incident alike."""
    # One copy of the JSON: every protocol without a key of its own (sqs, lambda, http, firehose, email-json,
    # application) gets "default". Six copies would put a dense alert past SNS's 256 KiB. "https" gets the chat
    # message (with_chat adds it): Amazon Q Developer in chat applications subscribes over HTTPS.
    message = {"default": json.dumps(document, separators=(",", ":")), "email": text, "sms": title}
    return OutgoingAlert(
        entry_id=entry_id,
        subject=title,
        message=json.dumps(message),
        # SNS refuses an empty attribute value, and control characters anywhere in one.
        attributes={key: printable(value) or "unknown" for key, value in attributes.items()},
    )


def printable(text: str) -> str:
    """The text without control characters (Unicode Cc) or lone surrogates (Cs), which SNS refuses in a subject and
    an attribute and a mail reader mangles: whitespace ones become a space, the others U+FFFD.

    Every string from a tag, a notice or an AWS answer passes through here on its way into the subject, the
    attributes or the text (line by line: the text's own line breaks are added after).
    """
    if text.isprintable():
        return text
    return "".join(_printable_char(ch) for ch in text)


def _printable_char(ch: str) -> str:
    if unicodedata.category(ch) not in ("Cc", "Cs"):
        return ch
    return " " if ch.isspace() else "\ufffd"


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
    text = " ".join(printable(head + tail).split())  # no line breaks, whatever the tags hold
    return _clip(text, SUBJECT_MAX)


_SUBJECT_STATUS = {
    "drained": "drained",
    "partial": "drained with failures",
    "failed": "drain FAILED",
    "nothing-to-drain": "nothing to drain",
    "checkpointed": "game sessions saved",
    "alert-only": "no action",
    "instance-not-found": "instance not found",
    "already-terminated": "already terminated",
}


def email_text(outcome: InterruptionOutcome, listed: int = LISTED_MAX) -> str:
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
    if notice.account != "unknown":  # a hub serves many accounts: the reader must know which one it is
        lines.append(f"Account   {notice.account}")
    lines.append(f"Action    {notice.action_label}")
    lines.append(f"Notice    {when(notice.noticed_at)}")
    if notice.deadline:
        lines.append(f"Deadline  {when(notice.deadline)}")
    if outcome.seconds_left is not None:
        lines.append(f"Drained   {outcome.seconds_left:.0f} s before the deadline")
    for report in outcome.reports:  # every step's section, rendered the same way
        section, _ = report.view(listed)
        lines += ["", report.step, *section]
    failures = outcome.failures
    lines += ["", f"Failures ({len(failures)})" if failures else "Failures: none"]
    lines += [f"- {failure}" for failure in failures[:listed]]
    if len(failures) > listed:
        lines.append(f"- and {len(failures) - listed} more (all of them in the JSON alert and the function's log)")
    if outcome.possibly_repeated:
        lines += ["", POSSIBLY_REPEATED]
    lines += ["", f"Notice id {notice.notice_id}"]
    return "\n".join(wrapped for line in lines for wrapped in _wrap(printable(line))) + "\n"


POSSIBLY_REPEATED = (
    "This alert may be repeated: the idempotency table did not answer, so a second notice of this interruption "
    "may not know it was alerted."
)


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
    if notice.lifecycle is not None:
        where = notice.lifecycle.where_to
        return f"{notice.kind.label}: Auto Scaling is taking {notice.instance_id} out of service ({where})."
    return f"{notice.kind.label}: EC2 will {notice.action} {notice.instance_id} by the deadline."


def alert_document(outcome: InterruptionOutcome, listed: int = LISTED_MAX) -> dict:
    """The machine-readable alert (SQS, Lambda, HTTPS subscribers).

    Lists longer than `listed` keep their first items, and a `...Omitted` count beside says how many were left out;
    the counts (`deregisteredCount`, `failureCount`, GameLift's counts) are always whole.
    """
    plan = outcome.plan
    notice = plan.notice
    instance = plan.instance
    document = {
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
        "noticeTime": iso_utc(notice.noticed_at),
        "deadline": iso_utc(notice.deadline) if notice.deadline else None,
        "outcome": outcome.status,
        "drainRequested": plan.drain,
        "secondsLeftAtDrain": round(outcome.seconds_left, 1) if outcome.seconds_left is not None else None,
        "targetGroups": [],
        "classicLoadBalancers": [],
        "ecs": None,
        "gameLift": None,
        "failureCount": len(outcome.failures),
        "failures": outcome.failures,
    }
    if outcome.possibly_repeated:
        document["possiblyRepeated"] = True
    for report in outcome.reports:  # every step's member, the same way
        document[report.key] = report.view(listed)[1]
    return _bounded(_cleaned(document), listed)


def _counts_document(outcome: InterruptionOutcome) -> dict:
    """The last resort when even short lists do not fit: the same document with every list left out."""
    document = alert_document(outcome, 0)
    document["truncated"] = True
    return document


def _too_large(outcome: InterruptionOutcome) -> str:
    drains = outcome.drains
    return (
        f"Details are too large for one alert: {len(drains)} target groups, "
        f"{sum(len(d.deregistered) for d in drains)} registrations deregistered, "
        f"{len(outcome.failures)} failures, outcome {outcome.status}. The function's log has them all.\n"
    )


def _cleaned(value):
    """Every string of the document through printable(): subscribers get the same clean text as the e-mail."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {key: _cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    return value


def _bounded(value, listed: int):
    """Every list cut to its first `listed` items, with "<key>Omitted" beside it counting the rest."""
    if isinstance(value, list):
        return [_bounded(item, listed) for item in value[:listed]]
    if not isinstance(value, dict):
        return value
    bounded = {}
    for key, item in value.items():
        bounded[key] = _bounded(item, listed)
        if isinstance(item, list) and len(item) > listed:
            bounded[f"{key}Omitted"] = len(item) - listed
    return bounded


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters as SNS counts them (UTF-16 units: an emoji is two), with … when cut."""
    if _units(text) <= limit:
        return text
    while text and _units(text) > limit - 1:
        text = text[:-1]
    return text + "…"


def _units(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_FOLLOW_UP_STATUS = {
    "drain-unfinished": "drain unfinished",
    "lifecycle-unconfirmed": "lifecycle action completed unconfirmed",
    "lifecycle-not-completed": "lifecycle action NOT completed",
}


def compose_follow_up_alert(look, entry_id: str, looked_at: datetime | None = None) -> OutgoingAlert:
    """A later alert of an incident, from one of its looks (followups/looks.py): `drain-unfinished` (still draining,
    or still failing, at the deadline), `lifecycle-unconfirmed` (completed without seeing the drain end),
    `lifecycle-not-completed`. Its subject, `event_type` and `detailType` are the incident's own signal's.

    `looked_at`: when the look happened (it arrives up to the batching window after it was due; default: when due).
    """
    check, outcome = look.check, look.alert
    looked_at = looked_at or check.due
    signal = check.signal
    draining = dict(sorted(look.state.targets.items()))
    count = sum(len(targets) for targets in draining.values())
    where = check.availability_zone or check.region
    name = f" ({check.instance_name})" if check.instance_name else ""
    status = _FOLLOW_UP_STATUS.get(outcome, outcome)
    if outcome == "drain-unfinished" and count:
        status += f", {count} still draining"
    head = f"{signal.label}: {check.instance_id}"
    tail = f" in {where}: {status}"
    room = SUBJECT_MAX - len(head) - len(tail) - 3
    title = " ".join(
        printable(head + (f" ({_clip(check.instance_name, room)})" if name and room >= 4 else "") + tail).split()
    )
    groups = [
        {
            "arn": arn,
            "name": target_group_name(arn),
            "stillDrainingCount": len(targets),
            "stillDraining": targets,
            "deregistrationDelaySeconds": check.delays.get(arn),
        }
        for arn, targets in draining.items()
    ]
    failing = [f"not drained: {failure}" for failure in check.redrain]
    if outcome == "drain-unfinished":
        left = int((check.deadline - looked_at).total_seconds()) if check.deadline else 0
        lines = [
            f"Drain unfinished: {check.instance_id}{name} still had {count} registration(s) draining "
            f"{left} s before its deadline."
            if count and not failing
            else f"Drain unfinished: {check.instance_id}{name} was not fully out of service {left} s before its "
            "deadline.",
            "Connections still open then may be cut when the instance goes.",
        ]
    elif outcome == "lifecycle-unconfirmed":
        lines = [
            f"Lifecycle action completed without confirmation: {check.instance_id}{name} (group {check.group}, "
            f"hook {check.hook}).",
        ]
    else:
        lines = [f"Lifecycle action NOT completed: {check.instance_id}{name} (group {check.group}, hook {check.hook})."]
    lines += ["", f"Instance  {check.instance_id}{name}", f"Zone      {where} ({check.region})"]
    lines += [f"Account   {check.account}"]
    if check.deadline and outcome == "drain-unfinished":
        lines.append(f"Deadline  {when(check.deadline)}")
    lines.append(f"Looked at {when(looked_at)}")
    lines += ["", "What happened", *[f"- {reason}" for reason in look.why]]
    if groups:
        lines += ["", "Still draining"]
        for group in groups:
            delay = group["deregistrationDelaySeconds"]
            lines.append(f"- {group['name']}: {group['stillDrainingCount']}" + (f", delay {delay} s" if delay else ""))
            lines.append("    " + ", ".join(group["stillDraining"][:LISTED_MAX]))
    lines += ["", f"Notice id {check.notice_id}"]
    document = {
        "schema": "spot-interruption-alert/1",
        "noticeId": check.notice_id,
        "detailType": signal.value,
        "instanceId": check.instance_id,
        "instanceName": check.instance_name,
        "availabilityZone": check.availability_zone,
        "region": check.region,
        "account": check.account,
        "deadline": iso_utc(check.deadline) if check.deadline else None,
        "checkedAt": iso_utc(looked_at),
        "outcome": outcome,
        "stillDrainingCount": count,
        "targetGroups": groups,
        "reasons": list(look.why),
        "failures": failing,
    }
    if check.kind == "lifecycle":
        document["lifecycleAction"] = {"autoScalingGroup": check.group, "hook": check.hook}
    text = "\n".join(wrapped for line in lines for wrapped in _wrap(printable(line))) + "\n"
    attributes = {
        "event_type": signal.value,
        "instance_id": check.instance_id,
        "availability_zone": check.availability_zone or "",
        "outcome": outcome,
        "account_id": check.account,
        "region": check.region,
    }
    # in the thread of the first alert: the same account, instance and notice id
    return with_chat(
        envelope(entry_id, _clip(title, SUBJECT_MAX), text, _bounded(_cleaned(document), LISTED_MAX), attributes)
    )
