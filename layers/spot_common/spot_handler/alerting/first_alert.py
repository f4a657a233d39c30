"""The first alert of an incident: one subject, an e-mail text a person reads on a phone, and JSON of the same facts
for machines (and, alerting/chat.py, a chat message)."""

from __future__ import annotations

from spot_handler.alerting.chat import with_chat
from spot_handler.alerting.envelope import envelope
from spot_handler.alerting.text import SUBJECT_MAX, bounded, cleaned, clip, printable, wrap
from spot_handler.aws.sns import ALERT_MAX_BYTES, OutgoingAlert, entry_bytes
from spot_handler.outcome import InterruptionOutcome, Outcome
from spot_handler.wording import iso_utc, when

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


def subject(outcome: InterruptionOutcome) -> str:
    notice = outcome.plan.notice
    instance = outcome.plan.instance
    where = instance.availability_zone if instance else notice.region
    verb = notice.action if notice.is_interruption else "rebalance"
    if outcome.final is Outcome.RESTORED:
        verb = "running again"
    tail = f" {verb} in {where}: {_SUBJECT_STATUS[outcome.status]}"
    label = _LABELS.get(outcome.final, notice.kind.label)
    head = f"{label}: {notice.instance_id}"
    name = instance.name if instance else None
    if name:
        room = SUBJECT_MAX - len(head) - len(tail) - 3
        if room >= 4:
            head += f" ({clip(name, room)})"
    text = " ".join(printable(head + tail).split())  # no line breaks, whatever the tags hold
    return clip(text, SUBJECT_MAX)


# An alert whose signal decides its outcome is named for that outcome, not for the signal (a state change).
_LABELS = {
    Outcome.MISSED_WARNING: "Spot interruption without warning",
    Outcome.MISSED: "Missed Spot interruption",
    Outcome.RESTORED: "Restored",
}

_SUBJECT_STATUS = {
    Outcome.DRAINED: "drained",
    Outcome.PARTIAL: "drained with failures",
    Outcome.FAILED: "drain FAILED",
    Outcome.NOTHING_TO_DRAIN: "nothing to drain",
    Outcome.CHECKPOINTED: "game sessions saved",
    Outcome.ALERT_ONLY: "no action",
    Outcome.INSTANCE_NOT_FOUND: "instance not found",
    Outcome.ALREADY_TERMINATED: "already terminated",
    Outcome.MISSED_WARNING: "no warning came, drained late",
    Outcome.MISSED: "MISSED, found by the sweep",
    Outcome.RESTORED: "restored",
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
    if outcome.final is not Outcome.RESTORED:  # a restore has no action of EC2's to name
        lines.append(f"Action    {notice.action_label}")
    lines.append(f"{'Found' if outcome.final is Outcome.MISSED else 'Notice':<9} {when(notice.noticed_at)}")
    warned = notice.deadline is not None and notice.deadline > notice.noticed_at  # not a late signal nor the sweep's
    if warned:
        lines.append(f"Deadline  {when(notice.deadline)}")
    if outcome.seconds_left is not None and warned:
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
    return "\n".join(wrapped for line in lines for wrapped in wrap(printable(line))) + "\n"


POSSIBLY_REPEATED = (
    "This alert may be repeated: the idempotency table did not answer, so a second notice of this interruption "
    "may not know it was alerted."
)


def _headline(outcome: InterruptionOutcome) -> str:
    notice = outcome.plan.notice
    instance = outcome.plan.instance
    if outcome.final is Outcome.MISSED_WARNING:
        going = "terminating" if notice.state == "shutting-down" else "stopping"
        return (
            f"No interruption warning arrived: EC2 is {going} {notice.instance_id} (state {notice.state} at "
            f"{when(notice.noticed_at)}). What was still registered was drained now."
        )
    if outcome.final is Outcome.MISSED:
        went = instance.state if instance else "gone"
        when_it_went = f", {instance.state_changed}" if instance and instance.state_changed else ""
        return (
            f"Missed interruption: EC2 took {notice.instance_id} back ({went}{when_it_went}) and no notice reached "
            "the handler; the reconciliation sweep found it and drained what it left behind."
        )
    if outcome.final is Outcome.RESTORED:
        return f"Restored: {notice.instance_id} is running again, and what its drain took away is back in service."
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
    return bounded(cleaned(document), listed)


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
