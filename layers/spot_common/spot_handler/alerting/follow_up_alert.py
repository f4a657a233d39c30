"""The later alerts of an incident, from its follow-up looks (followups/looks.py)."""

from __future__ import annotations

from datetime import datetime

from spot_handler.alerting.chat import with_chat
from spot_handler.alerting.envelope import envelope
from spot_handler.alerting.first_alert import LISTED_MAX, POSSIBLY_REPEATED
from spot_handler.alerting.text import SUBJECT_MAX, bounded, cleaned, clip, printable, wrap
from spot_handler.aws.sns import OutgoingAlert
from spot_handler.models import target_group_name
from spot_handler.outcome import Outcome
from spot_handler.wording import iso_utc, when

_FOLLOW_UP_STATUS = {
    Outcome.DRAIN_UNFINISHED: "drain unfinished",
    Outcome.LIFECYCLE_UNCONFIRMED: "lifecycle action completed unconfirmed",
    Outcome.LIFECYCLE_NOT_COMPLETED: "lifecycle action NOT completed",
    Outcome.RESTORED: "restored",
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
    if outcome == Outcome.DRAIN_UNFINISHED and count:
        status += f", {count} still draining"
    head = f"{signal.label}: {check.instance_id}"
    tail = f" in {where}: {status}"
    room = SUBJECT_MAX - len(head) - len(tail) - 3
    title = " ".join(
        printable(head + (f" ({clip(check.instance_name, room)})" if name and room >= 4 else "") + tail).split()
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
    if outcome == Outcome.DRAIN_UNFINISHED:
        left = int((check.deadline - looked_at).total_seconds()) if check.deadline else 0
        lines = [
            f"Drain unfinished: {check.instance_id}{name} still had {count} registration(s) draining "
            f"{left} s before its deadline."
            if count and not failing
            else f"Drain unfinished: {check.instance_id}{name} was not fully out of service {left} s before its "
            "deadline.",
            "Connections still open then may be cut when the instance goes.",
        ]
    elif outcome == Outcome.RESTORED:  # a restore look's alert, sent again (its first try was not published)
        lines = [
            f"Restored: {check.instance_id}{name} is running and no interruption followed its rebalance drain; what "
            "the drain took away is back in service."
        ]
    elif outcome == Outcome.LIFECYCLE_UNCONFIRMED:
        lines = [
            f"Lifecycle action completed without confirmation: {check.instance_id}{name} (group {check.group}, "
            f"hook {check.hook}).",
        ]
    else:
        lines = [f"Lifecycle action NOT completed: {check.instance_id}{name} (group {check.group}, hook {check.hook})."]
    lines += ["", f"Instance  {check.instance_id}{name}", f"Zone      {where} ({check.region})"]
    lines += [f"Account   {check.account}"]
    if check.deadline and outcome == Outcome.DRAIN_UNFINISHED:
        lines.append(f"Deadline  {when(check.deadline)}")
    lines.append(f"Looked at {when(looked_at)}")
    lines += ["", "What happened", *[f"- {reason}" for reason in look.why]]
    if groups:
        lines += ["", "Still draining"]
        for group in groups:
            delay = group["deregistrationDelaySeconds"]
            lines.append(f"- {group['name']}: {group['stillDrainingCount']}" + (f", delay {delay} s" if delay else ""))
            lines.append("    " + ", ".join(group["stillDraining"][:LISTED_MAX]))
    if look.possibly_repeated:
        lines += ["", POSSIBLY_REPEATED]
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
    if look.possibly_repeated:
        document["possiblyRepeated"] = True
    if check.kind == "lifecycle":
        document["lifecycleAction"] = {"autoScalingGroup": check.group, "hook": check.hook}
    text = "\n".join(wrapped for line in lines for wrapped in wrap(printable(line))) + "\n"
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
        envelope(entry_id, clip(title, SUBJECT_MAX), text, bounded(cleaned(document), LISTED_MAX), attributes)
    )
