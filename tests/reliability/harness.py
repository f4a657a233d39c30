"""Drives the handler the way Lambda's SQS poller does, against moto, with faults injected into its clients.

The poller (local/lambda_runtime.py, with MAPPING's settings): two concurrent workers each receive a batch of up to
20 records, call the handler, delete the records it did not report in batchItemFailures and leave the others
invisible. Visibility
timeouts are simulated, not slept: every round of batches advances a simulated clock by one second, a failed notice
record becomes visible again VISIBILITY_TIMEOUT simulated seconds later (ChangeMessageVisibility 0 at that moment), and
when nothing is visible the clock jumps to the next record due. Redrive is moto's own: a record received
maxReceiveCount times moves to the DLQ on its next receive. Fault windows are expressed in the same simulated seconds.
botocore's retries run for real (standard mode, 4 attempts); only their backoff sleeps are skipped.

Follow-ups run in real time, as they do in AWS: a look the handler sends itself is a delayed message (its DelaySeconds
honoured by moto), and a follow-up record the handler reports failed comes back when the handler's own
ChangeMessageVisibility says. The poller waits for the looks that drain again (a drain that failed) and for the looks
sent again after a failure; it does not wait for a look due just before a deadline that has nothing to drain (it only
says whether draining finished). Each drain is timed where it happens (the handler's DeregisterTargets answered), so
`drained` counts instances out of every target group they may be drained from before their deadline.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from spot_handler.aws import AwsClients
from spot_handler.budget import TimeBudget
from spot_handler.invocation import handle_invocation
from spot_handler.settings import Settings

from local.lambda_runtime import ACCOUNT, REGION, EventSourceMapping, LambdaContext, QueuePoller
from tests.support.alerts import drain_queue
from tests.support.events import load_event
from tests.support.faults import Fault, FaultInjector

# Smaller batches and fewer workers than template.yaml's defaults: more invocations, so more of them meet a fault.
MAPPING = EventSourceMapping(batch_size=20, batching_window_s=0, max_concurrency=2, overridden=True)
FEED = 40  # notices EventBridge delivers per simulated second
VISIBILITY_TIMEOUT = 360  # simulated seconds, as template.yaml's NoticeQueue
MAX_RECEIVE_COUNT = 5  # as template.yaml's redrive policy
HANG_AT = 20  # the simulated second in which DescribeTargetHealth hangs
DEREGISTER_OUTAGE = (6, 8)  # simulated seconds in which every DeregisterTargets is throttled past botocore's retries
LOOKUP_OUTAGE = (10, 11)  # ... and every DescribeInstances
FOLLOW_UP_OUTCOMES = ("drain-unfinished", "lifecycle-unconfirmed", "lifecycle-not-completed")

SPOT = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"


@dataclass
class Figures:
    notices: int = 0
    malformed: int = 0
    duplicates_sent: int = 0
    alerts: int = 0
    duplicates_suppressed: int = 0
    drained: int = 0  # out of every target group it may be drained from, before its deadline
    drainable: int = 0
    drained_late: int = 0  # out, but only after its deadline
    redrained: int = 0  # looks that drained again what had failed
    follow_up_alerts: int = 0  # second alerts of an incident (drain-unfinished, ...): not counted as repeats
    announced_repeats: int = 0  # extra alerts of interruptions whose alert said it might be repeated
    dlq: int = 0
    lost: int = 0
    doubled: int = 0
    invocations: int = 0
    max_alert_seconds: float = 0.0  # handler start -> PublishBatch call, the bound the issue asks for
    largest_publish_batch_bytes: int = 0  # the largest PublishBatch request body sent (SNS takes 262144)
    lost_keys: list = field(default_factory=list)
    doubled_keys: list = field(default_factory=list)
    undrained: list = field(default_factory=list)
    malformed_missing_from_dlq: int = 0
    faults: Counter = field(default_factory=Counter)

    def result_line(self) -> str:
        return (
            f"RESULT notices={self.notices} alerts={self.alerts} duplicates_suppressed={self.duplicates_suppressed} "
            f"drained={self.drained} drainable={self.drainable} dlq={self.dlq} lost={self.lost} "
            f"doubled={self.doubled} redrained={self.redrained} announced_repeats={self.announced_repeats}"
        )


class SimulatedClock:
    def __init__(self):
        self.now = 0

    def within(self, start: int, end: int):
        return lambda: start <= self.now < end


def build_account(builder, instances: int, seed: int):
    """Spot instances behind five target groups; a tenth of them also in one the handler may not touch."""
    groups = [builder.target_group(f"web-{n}", delay=300) for n in range(5)]
    denied = builder.target_group("denied", delay=60)
    ids: list[str] = []
    tags_of: dict[str, list[str]] = {}
    per_call = 30
    for start in range(0, instances, per_call):
        group = groups[(start // per_call) % len(groups)]
        with_denied = (start // per_call) % 4 == 0
        arns = [group, denied] if with_denied else [group]
        fleet = builder.spot_instances(  # one subnet per call, a /24 each: 251 addresses
            per_call, f"web-{start // per_call}", {"TargetGroupArn": ",".join(arns)}, zone_index=start // per_call % 2
        )
        new = [i.instance_id for i in fleet]
        ids += new
        for instance_id in new:
            tags_of[instance_id] = arns
        for arn in arns:
            builder.register(arn, new, ports=[80])
    return ids, tags_of, groups, denied


def make_notices(ids: list[str], seed: int, now: datetime | None = None):
    """Valid notices (one per interruption), their duplicates, and malformed records, shuffled; and the expected set.
    Every original notice is stamped `now`: its deadline is now + 120 s."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(microsecond=0)
    template = load_event("spot-interruption-instance-tg.json")
    rebalance_template = load_event("rebalance-recommendation.json")

    def notice(instance_id: str, kind: str, at: datetime, event_id: str | None = None) -> str:
        event = json.loads(json.dumps(rebalance_template if kind == REBALANCE else template))
        event["id"] = event_id or str(uuid.uuid4())
        event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        event["detail"]["instance-id"] = instance_id
        event["resources"] = [f"arn:aws:ec2:us-east-2:123456789012:instance/{instance_id}"]
        return json.dumps(event)

    interruptions: list[tuple[str, str]] = [(i, SPOT) for i in ids]
    interruptions += [(i, REBALANCE) for i in rng.sample(ids, len(ids) // 3)]
    interruptions += [(f"i-0{n:016x}", SPOT) for n in range(0xFFF000, 0xFFF000 + 60)]  # unknown: already gone
    originals = [(key, notice(key[0], key[1], now)) for key in interruptions]

    duplicates = []
    for key, body in rng.sample(originals, int(len(originals) * 0.55)):
        if rng.random() < 0.6:
            duplicates.append((key, body))  # EventBridge re-send: the same event, same id
        else:
            duplicates.append(
                (key, notice(key[0], key[1], now + timedelta(seconds=rng.randint(1, 20))))
            )  # EC2 re-notice

    malformed = malformed_records(rng, ids)
    stream = [b for _, b in originals] + [b for _, b in duplicates]
    rng.shuffle(stream)
    for body in malformed:
        stream.insert(rng.randrange(len(stream) + 1), body)
    return stream, set(interruptions), len(duplicates), malformed


def malformed_records(rng: random.Random, ids: list[str]) -> list[str]:
    base = load_event("spot-interruption-instance-tg.json")
    kinds = [
        lambda n: '{"version": "0", "detail": ' + "x" * n,  # truncated JSON
        lambda n: f"not json {n}",
        lambda n: json.dumps([n]),
        lambda n: json.dumps({**base, "id": f"bad-{n}", "source": "aws.health"}),
        lambda n: json.dumps({**base, "id": f"bad-{n}", "detail-type": "EC2 Instance Launch Successful"}),
        lambda n: json.dumps({k: v for k, v in {**base, "id": f"bad-{n}"}.items() if k != "detail"}),
        lambda n: json.dumps({**base, "id": f"bad-{n}", "detail": {"instance-id": n, "instance-action": "terminate"}}),
        lambda n: json.dumps(
            {**base, "id": f"bad-{n}", "detail": {"instance-id": rng.choice(ids), "instance-action": "explode"}}
        ),
        lambda n: json.dumps({**base, "id": f"bad-{n}", "time": "yesterday"}),
        lambda n: "{" + " " * 250_000 + f'"oversize": {n}' + "}",  # valid JSON, no notice, near the SQS limit
    ]
    return [kinds[n % len(kinds)](n) for n in range(60)]


def _claims(request: dict) -> bool:
    return '"Put":' in request.get("body", "")


def faults(clock: SimulatedClock, denied_arn: str) -> list[Fault]:
    return [
        Fault("elastic-load-balancing-v2", "DescribeTargetHealth", "throttle", rate=0.2),
        Fault("elastic-load-balancing-v2", "DeregisterTargets", "throttle", rate=0.2),
        Fault("elastic-load-balancing-v2", "DeregisterTargets", "timeout", rate=0.05),
        Fault("elastic-load-balancing-v2", "DescribeTargetGroupAttributes", "5xx", rate=0.1),
        Fault(
            "elastic-load-balancing-v2",
            "DeregisterTargets",
            "access-denied",
            only_if=lambda params: params.get("TargetGroupArn") == denied_arn,
        ),
        Fault(
            "elastic-load-balancing-v2",
            "DescribeTargetHealth",
            "access-denied",
            only_if=lambda params: params.get("TargetGroupArn") == denied_arn,
        ),
        Fault("ec2", "DescribeInstances", "5xx", rate=0.15),
        Fault("ec2", "DescribeInstances", "throttle", rate=0.1),
        Fault("sns", "PublishBatch", "5xx", code="ServiceUnavailable", active=clock.within(4, 9)),  # SNS down
        Fault("sns", "PublishBatch", "throttle", rate=0.1),
        # Claims are TransactWriteItems of Puts (nothing is written when an alert is out: idempotency/claims.py)
        Fault("dynamodb", "TransactWriteItems", "throttle", rate=0.1, only_if=_claims),
        Fault("dynamodb", "TransactWriteItems", "timeout", rate=0.03, only_if=_claims),
        Fault("dynamodb", "TransactWriteItems", "conflict", rate=0.1),
        Fault("dynamodb", "*", "5xx", active=clock.within(12, 16)),  # the idempotency table down for a while
        Fault("sqs", "SendMessage", "5xx", rate=0.2),
        Fault("elastic-load-balancing-v2", "DescribeTargetHealth", "hang", active=clock.within(HANG_AT, HANG_AT + 1)),
        # Transient drain failures a drain must outlive: past botocore's retries, then gone (issue 21)
        Fault("elastic-load-balancing-v2", "DeregisterTargets", "throttle", active=clock.within(*DEREGISTER_OUTAGE)),
        Fault("ec2", "DescribeInstances", "throttle", active=clock.within(*LOOKUP_OUTAGE)),
    ]


@dataclass
class Poller:
    clients: AwsClients
    settings: Settings
    queue_url: str
    clock: SimulatedClock
    figures: Figures
    publish_started: dict = field(default_factory=dict)  # thread id -> monotonic time of the first PublishBatch

    def __post_init__(self):
        self._lock = threading.Lock()
        self.queue = QueuePoller(self.clients.sqs, self.queue_url, MAPPING.batch_size)
        self.clients.sns.meta.events.register("before-call.sns.PublishBatch", self._publishing)
        self.clients.sns.meta.events.register("before-send.sns.PublishBatch", self._measure)
        events = self.clients.elbv2.meta.events
        events.register("before-call.elastic-load-balancing-v2.DeregisterTargets", self._deregistering)
        events.register("after-call.elastic-load-balancing-v2.DeregisterTargets", self._drained)
        self.deregistered: dict[tuple[str, str], float] = {}  # (target group, instance) -> epoch seconds, first

    @staticmethod
    def _deregistering(params, context, **kwargs):
        body = params.get("body") if isinstance(params.get("body"), dict) else {}
        context["deregistering"] = (
            body.get("TargetGroupArn", ""),
            [v for k, v in body.items() if k.startswith("Targets.member.") and k.endswith(".Id")],
        )

    def _drained(self, http_response, context, **kwargs):
        """Time each successful DeregisterTargets where it happens: the instance is out of that group from then."""
        if http_response.status_code != 200 or "deregistering" not in context:
            return
        group, ids = context["deregistering"]
        now = time.time()
        with self._lock:
            for target in ids:
                self.deregistered.setdefault((group, target), now)

    def _publishing(self, **kwargs):
        self.publish_started.setdefault(threading.get_ident(), time.monotonic())

    def _measure(self, request, **kwargs):
        with self._lock:
            self.figures.largest_publish_batch_bytes = max(self.figures.largest_publish_batch_bytes, len(request.body))

    def run(self, incoming: list[str], injector: FaultInjector, hang_window_end: int, last_deadline: datetime) -> None:
        """EventBridge delivers FEED notices per simulated second (moto's queue scans every message on each call,
        so the backlog is kept realistic and small); the workers take batches until nothing is left or due, and no
        look that could still drain is on its way before the last deadline."""
        sqs = self.clients.sqs
        due: list[tuple[int, str]] = []  # (simulated second it becomes visible, receipt handle)
        incoming = list(incoming)
        with ThreadPoolExecutor(max_workers=MAPPING.max_concurrency) as pool:
            while True:
                deliver(sqs, self.queue_url, incoming[:FEED])
                del incoming[:FEED]
                if self.clock.now >= hang_window_end:
                    injector.release.set()
                ready = [h for t, h in due if t <= self.clock.now]
                due = [(t, h) for t, h in due if t > self.clock.now]
                for handle in ready:
                    sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
                # Visibility is simulated: a received record stays invisible until the clock says it is due again.
                receive = [self.queue.receive(visibility_timeout=43_200) for _ in range(MAPPING.max_concurrency)]
                batches = [b for b in receive if b]
                if not batches:
                    if not due and not incoming and not self._looks_coming(last_deadline):
                        return
                    if not due and not incoming:
                        time.sleep(0.5)  # looks come back in real time
                    self.clock.now = max(self.clock.now + 1, min((t for t, _ in due), default=self.clock.now + 1))
                    continue
                for batch, failed in zip(batches, pool.map(self._invoke, batches)):
                    left = self.queue.delete_handled(batch, failed)
                    # A follow-up record the handler reported failed comes back when its own ChangeMessageVisibility
                    # says (seconds); a notice record after the visibility timeout, on the simulated clock.
                    left = [m for m in left if not _is_follow_up(m["Body"])]
                    due += [(self.clock.now + VISIBILITY_TIMEOUT, m["ReceiptHandle"]) for m in left]
                self.clock.now += 1

    def _looks_coming(self, last_deadline: datetime) -> bool:
        """Whether a look that drains again (or sends again what failed) is still delayed in the queue, with time
        before the last deadline for it to matter."""
        if datetime.now(UTC) >= last_deadline:
            return False
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT][REGION].get_queue(self.queue_url.rsplit("/", 1)[-1])
        with queue._messages_lock:  # moto keeps delayed and in-flight messages with the others
            bodies = [m.body for m in queue._messages]
        for body in bodies:
            if _is_follow_up(body):
                checks = json.loads(body)["checks"]
                if any(c.get("redrain") or c.get("alert_outcome") or c.get("attempt") for c in checks):
                    return True
        return False

    def _invoke(self, batch: list[dict]) -> set[str]:
        """One Lambda invocation: what app.lambda_handler does, with the time budget taken from a 60 s context."""
        self.publish_started.pop(threading.get_ident(), None)
        budget = TimeBudget.start(remaining_ms=LambdaContext().get_remaining_time_in_millis())
        try:
            report = handle_invocation(self.queue.event(batch), self.clients, self.settings, budget=budget)
        except Exception:  # noqa: BLE001 - an invocation error: Lambda retries the whole batch
            return {m["MessageId"] for m in batch}
        if report.follow_ups is not None:
            with self._lock:
                self.figures.redrained += len(report.follow_ups.redrained)
        published = self.publish_started.pop(threading.get_ident(), None)
        with self._lock:
            self.figures.invocations += 1
            self.figures.duplicates_suppressed += report.duplicates
            if published is not None:
                self.figures.max_alert_seconds = max(self.figures.max_alert_seconds, published - budget.started)
        return set(report.batch_item_failures)


def _is_follow_up(body: str) -> bool:
    return body.startswith('{"source":"spot-interruption-handler"')


def deliver(sqs, queue_url: str, bodies: list[str]) -> None:
    """SendMessageBatch ten at a time; a body near the SQS size limit goes alone."""
    small = [body for body in bodies if len(body) < 20_000]
    for body in bodies:
        if len(body) >= 20_000:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    for start in range(0, len(small), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(small[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def count(
    figures: Figures,
    clients: AwsClients,
    subscriber_url: str,
    dlq_url: str,
    expected: set,
    malformed: list[str],
    builder,
    tags_of: dict[str, list[str]],
    denied: str,
    deregistered: dict[tuple[str, str], float] | None = None,
    deadline: datetime | None = None,
) -> None:
    received = [json.loads(m["Body"]) for m in drain_queue(clients.sqs, subscriber_url, max_rounds=1000)]
    documents = [json.loads(a["Message"]) for a in received]
    # An incident's later alerts (drain-unfinished, ...) are its follow-through, not a repeat of its alert.
    first = [d for d in documents if d.get("outcome") not in FOLLOW_UP_OUTCOMES]
    figures.follow_up_alerts = len(documents) - len(first)
    alerts = [(d["instanceId"], d["detailType"]) for d in first]
    figures.alerts = len(alerts)
    per_key = Counter(alerts)
    # A repeat the first alert announced ("may be repeated": the idempotency table did not answer) is counted apart:
    # doubled counts repeats nobody was told of.
    announced = Counter((d["instanceId"], d["detailType"]) for d in first if d.get("possiblyRepeated"))
    figures.lost_keys = sorted(k for k in expected if per_key[k] == 0)
    figures.doubled_keys = sorted(k for k, n in per_key.items() if n - announced[k] > 1 or (n > 1 and not announced[k]))
    # the extra alerts of interruptions whose alert said it might be repeated
    figures.announced_repeats = sum(n - 1 for k, n in per_key.items() if n > 1 and announced[k])
    figures.lost, figures.doubled = len(figures.lost_keys), len(figures.doubled_keys)
    parked = drain_queue(clients.sqs, dlq_url, max_rounds=1000)
    figures.dlq = len(parked)
    parked_bodies = Counter(m["Body"][:1000] for m in parked)
    figures.malformed_missing_from_dlq = sum(1 for body in malformed if parked_bodies[body[:1000]] == 0)
    still = {
        arn: {t.split(":")[0] for t in builder.registered(arn)} for arn in {a for v in tags_of.values() for a in v}
    }
    spot_interrupted = {i for i, kind in expected if kind == SPOT and i in tags_of}
    figures.drainable = len(spot_interrupted)
    out = {i for i in spot_interrupted if all(i not in still[a] for a in tags_of[i] if a != denied)}
    if deregistered is not None and deadline is not None:
        cutoff = deadline.timestamp()
        in_time = {
            i for i in out if all(deregistered.get((a, i), float("inf")) <= cutoff for a in tags_of[i] if a != denied)
        }
        figures.drained_late = len(out - in_time)
        out = in_time
    figures.undrained = sorted(spot_interrupted - out)
    figures.drained = len(out)
