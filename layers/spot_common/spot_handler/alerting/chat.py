"""The chat message of an alert: what Amazon Q Developer in chat applications (formerly AWS Chatbot) posts in the
Slack or Microsoft Teams channels subscribed to the alert topic.

The service subscribes to the topic over HTTPS and posts only the messages it recognises: AWS service events, and
custom notifications of this shape (docs/design-notes.md "Chat messages" has the schema, its limits and sources):

    {"version": "1.0", "source": "custom", "id": "<noticeId>:<outcome>",
     "content": {"textType": "client-markdown", "title": "...", "description": "...",
                 "nextSteps": ["..."], "keywords": ["<outcome>", "<zone>", "<type>"]},
     "metadata": {"threadId": "spot-...", "summary": "<subject>", "eventType": "<detail-type>",
                  "relatedResources": ["<instance ARN>", "<target group ARN>", ...],
                  "additionalContext": {"outcome": "...", "noticeId": "...", ...}}}

A message of any other shape is dropped without a word, so the alert carries this one under its "https" key: with
MessageStructure=json SNS gives each protocol its own key, and the e-mail text ("email") and the JSON document
("default": SQS, Lambda, HTTP) that every other subscriber receives stay exactly as they were.

The message is made from the alert itself, once compose_alert has fitted it to SNS: its subject is the title, its
e-mail text the description, its JSON document the metadata. So it says what the e-mail says, and an alert whose
lists were shortened gives a message with the same shortened lists.

Markdown: Slack and Teams do not read it alike (bold is *x* in one, **x** in the other), so the description uses
only what both show the same way: plain lines, `code` spans, and one fenced block holding the e-mail's details (its
columns stay aligned). Text from tags and AWS answers can neither ping a channel nor leave the block: `<` (Slack's
<!channel>, <@user>, <link|text>) becomes U+2039 (a single angle quote), a backtick becomes ', and @ is followed by
a zero-width space.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from urllib.parse import quote_plus

from spot_handler.aws.sns import OutgoingAlert
from spot_handler.models import instance_arn
from spot_handler.outcome import Outcome
from spot_handler.signals import kind_of
from spot_handler.wording import plural, when

VERSION = "1.0"  # the only version the service takes
SOURCE = "custom"  # the only source of a custom notification
TEXT_TYPE = "client-markdown"  # the only text type: markdown as the chat platform reads it
# The service states no lengths. Slack does: a header block holds 150 characters and a section's text 3,000; the
# title is kept to one line under the one, the description under the other (docs/design-notes.md "Chat messages").
TITLE_MAX = 120
DESCRIPTION_MAX = 3000
LEAD_MAX = 400  # the description's first lines (the e-mail's headline and the status), before the details
# The message's share of a PublishBatch request, form-encoded as botocore sends it (aws/sns.entry_bytes): an alert
# is at most aws/sns.ALERT_MAX_BYTES for what it always carried plus this for its chat message. Teams takes a
# message of 28 KB; Slack's 3,000-character section is the tighter bound in practice.
CHAT_MAX_BYTES = 16 * 1024
RELATED_MAX = 10
NEXT_STEPS: dict[Outcome, list[str]] = {
    Outcome.FAILED: [
        "Take the instance out by hand where the drain failed: the failures name each target group, load balancer "
        "or cluster and the AWS error. Until then it may still receive traffic."
    ],
    Outcome.PARTIAL: [
        "Take the instance out by hand where the drain failed: the failures name each target group, load balancer "
        "or cluster and the AWS error. Until then it may still receive traffic."
    ],
    Outcome.DRAIN_UNFINISHED: [
        "Connections still open when the instance goes are cut: look for errors at the clients of the target groups "
        "still draining.",
        "A deregistration delay longer than the two minutes (MaxDeregistrationDelaySeconds) keeps connections open "
        "past the deadline.",
    ],
    Outcome.LIFECYCLE_NOT_COMPLETED: [
        "Complete the lifecycle action by hand once the instance is drained (aws autoscaling "
        "complete-lifecycle-action with its group, hook and instance), or Auto Scaling applies the hook's default "
        "result when it times out."
    ],
    Outcome.LIFECYCLE_UNCONFIRMED: [
        "The handler could not read whether the drain had ended: check the role's permissions to read target health, "
        "Classic instance health and ECS container instances."
    ],
    Outcome.INSTANCE_NOT_FOUND: [
        "If the instance still exists, check that the handler serves its account and region (MemberAccountIds, "
        "OrganizationId, the member role there)."
    ],
    Outcome.CHECKPOINTED: ["Re-place the saved game sessions: the checkpoint table holds them under the instance id."],
    Outcome.ALERT_ONLY: [
        "EC2 may interrupt this instance soon: move its work elsewhere (DrainOnRebalance=true drains on this signal)."
    ],
}
_WARNING, _ALARM, _DONE, _INFO = "\u26a0\ufe0f", "\U0001f6a8", "\u2705", "\u2139\ufe0f"
ICONS = {
    Outcome.FAILED: _ALARM,
    Outcome.PARTIAL: _WARNING,
    Outcome.DRAIN_UNFINISHED: _WARNING,
    Outcome.LIFECYCLE_UNCONFIRMED: _WARNING,
    Outcome.LIFECYCLE_NOT_COMPLETED: _ALARM,
    Outcome.INSTANCE_NOT_FOUND: _WARNING,
    Outcome.DRAINED: _DONE,
    Outcome.CHECKPOINTED: _DONE,
}


def thread_id(account: str, instance_id: str, incident: str, first_notice_id: str) -> str:
    """The thread of one incident: the same for its first alert and every later message about it (drain-unfinished
    today; restored or missed outcomes tomorrow), computed from what each of them knows: the account, the instance,
    the incident (NoticeKind.incident: "interruption" for every interruption-class signal) and the id of the notice
    the first alert was sent for (the JSON document's `noticeId`; a follow-up's Check.notice_id). The notice id tells
    two incidents of one instance apart (stopped, started, interrupted again). A digest: short, and the same
    characters whatever the ids hold."""
    digest = hashlib.sha256("#".join((account, instance_id, incident, first_notice_id)).encode()).hexdigest()
    return f"spot-{digest[:40]}"


def with_chat(alert: OutgoingAlert) -> OutgoingAlert:
    """The alert with its chat message added under the "https" key; every other key is left as it was."""
    message = json.loads(alert.message)
    message["https"] = chat_message(alert.subject, message["email"], json.loads(message["default"]))
    return alert._replace(message=json.dumps(message))


def chat_message(subject: str, email: str, document: dict) -> str:
    """The custom notification for an alert with this subject, e-mail text and JSON document, within CHAT_MAX_BYTES."""
    outcome = str(document.get("outcome") or "unknown")
    lead, details = _lead(email, document), _details(email)
    keep = len(details)
    notification = _notification(subject, lead, details, keep, document)
    if not _fits(notification):
        low, high = 0, keep  # the most detail lines that fit: at least none, fewer than all
        while low < high:
            middle = (low + high + 1) // 2
            if _fits(_notification(subject, lead, details, middle, document)):
                low = middle
            else:
                high = middle - 1
        notification = _notification(subject, lead, details, low, document)
    if not _fits(notification):  # only a lead made of pathological text gets here: the facts without the words
        notification = _notification(subject, f"{outcome}: see the e-mail or the JSON alert.", [], 0, document)
        notification["metadata"]["relatedResources"] = notification["metadata"]["relatedResources"][:1]
    return _dumps(notification)


def share_bytes(message: str) -> int:
    """What the chat message adds to a PublishBatch request: its text as a JSON string inside the SNS message,
    form-encoded (aws/sns.entry_bytes counts the whole entry the same way)."""
    return len(quote_plus(json.dumps(message)))


def _fits(notification: dict) -> bool:
    description = notification["content"]["description"]
    return len(description) <= DESCRIPTION_MAX and share_bytes(_dumps(notification)) <= CHAT_MAX_BYTES


def _dumps(notification: dict) -> str:
    # Raw UTF-8 inside: SNS's own JSON escapes it once, where an escaped inner text would be escaped twice.
    return json.dumps(notification, ensure_ascii=False, separators=(",", ":"))


def _notification(subject: str, lead: str, details: list[str], keep: int, document: dict) -> dict:
    outcome = str(document.get("outcome") or "unknown")
    shown = details[:keep]
    if keep < len(details):
        shown.append(f"… {plural(len(details) - keep, 'more line')}: the e-mail and the JSON alert have them all")
    description = lead + ("\n```\n" + "\n".join(shown) + "\n```" if shown else "")
    content: dict = {
        "textType": TEXT_TYPE,
        "title": _clip(_inert(f"{ICONS.get(outcome, _INFO)} {subject}"), TITLE_MAX),
        "description": description,
    }
    if outcome in NEXT_STEPS:
        content["nextSteps"] = NEXT_STEPS[outcome]
    keywords = (outcome, document.get("availabilityZone"), document.get("instanceType"))
    content["keywords"] = list(dict.fromkeys(_inert(str(k)) for k in keywords if k))
    return {
        "version": VERSION,
        "source": SOURCE,
        "id": f"{document.get('noticeId')}:{outcome}",
        "content": content,
        "metadata": {
            "threadId": thread_of(document),
            "summary": _inert(subject),
            "eventType": str(document.get("detailType") or ""),
            "relatedResources": _related(document),
            "additionalContext": {
                key: _inert(str(document[key]))
                for key in ("outcome", "noticeId", "instanceId", "account", "region", "availabilityZone", "deadline")
                if document.get(key) is not None
            },
        },
    }


def thread_of(document: dict) -> str:
    """The thread of the incident a JSON alert document is about (thread_id). A `restored` alert is about the drain it
    puts back: the thread of the alert of the notice that drained it (its record's), wherever the restore came from."""
    notice_id, detail_type = document.get("noticeId"), document.get("detailType")
    restored = document.get("restored")
    if isinstance(restored, dict) and restored.get("drainNoticeId") and restored.get("drainedBy"):
        notice_id, detail_type = restored["drainNoticeId"], restored["drainedBy"]
    try:
        incident = kind_of(str(detail_type)).incident
    except ValueError:
        incident = "interruption"
    return thread_id(str(document.get("account")), str(document.get("instanceId")), incident, str(notice_id))


def _lead(email: str, document: dict) -> str:
    """The e-mail's headline as one line, then the outcome, what is wrong and the deadline in a line of their own."""
    headline = " ".join(line.strip() for line in email.strip("\n").split("\n\n")[0].splitlines())
    status = [f"Outcome `{_inert(str(document.get('outcome')))}`"]
    if "stillDrainingCount" in document:
        status.append(f"{plural(int(document['stillDrainingCount']), 'registration')} still draining")
    else:
        failures = int(document.get("failureCount", len(document.get("failures") or [])))
        status.append(plural(failures, "failure") if failures else "no failures")
    if document.get("deadline"):
        status.append("deadline " + when(datetime.fromisoformat(str(document["deadline"]).replace("Z", "+00:00"))))
    return _clip(_inert(headline), LEAD_MAX) + "\n" + ", ".join(status) + "."


def _details(email: str) -> list[str]:
    """The e-mail after its headline, line for line, for the fenced block."""
    paragraphs = email.strip("\n").split("\n\n")
    return [_inert(line) for line in "\n\n".join(paragraphs[1:]).splitlines()]


def _related(document: dict) -> list[str]:
    """The instance's ARN, then the target groups'."""
    arn = instance_arn(str(document.get("account")), str(document.get("region")), str(document.get("instanceId")))
    related = [arn] if arn else []
    for group in document.get("targetGroups") or []:
        if isinstance(group, dict) and group.get("arn"):
            related.append(_inert(str(group["arn"])))
    return related[:RELATED_MAX]


def _inert(text: str) -> str:
    """Text that chat markdown shows as it is: no mention, no link, no end of a code span or block."""
    return text.replace("<", "\u2039").replace("`", "'").replace("@", "@\u200b")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
