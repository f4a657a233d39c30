"""Our design under load: notices reach real (moto) SQS queues, and Lambda's SQS event sources feed the function.

Model of the event source mappings (template.yaml: Mappings.NoticeBatching, one entry per queue):
- EventBridge delivers each notice to every queue whose rule matches it (the notice queue takes every notice; the
  lone-notice queue, when the design has one, the interruption warnings), at the notice's time. Its SendMessage calls
  are EventBridge's, not the function's: they are signed with the bench server's uncounted key.
- per queue, a poller receives from it (ReceiveMessage, long polling, 10 at a time) and gathers a batch until it holds
  BatchSize, or MaximumBatchingWindowInSeconds have passed since its first message; with a window of 0 it hands over
  what one ReceiveMessage returned (AWS allows a BatchSize of at most 10 then). It starts gathering only while one of
  the mapping's MaxConcurrency invocation slots is free. After the invocation it deletes what the function did not
  report failed; those stay invisible until the queue's visibility timeout (360 s), long after the deadline: the
  bench counts them. The poller's calls are the Lambda service's: uncounted, like EventBridge's.
- `pollers`: how many pollers gather batches from one queue at once (at most its MaxConcurrency). AWS starts with five
  (Lambda developer guide, "Configuring scaling behavior for SQS event source mappings": five batches at a time with
  five concurrent invocations) and each gathers its own batch, so a burst is split over several batches; the bench's
  default of one is the best case for calls, and `--pollers` shows the others.
- an execution environment (its own clients and caches) is created only when an invocation finds every existing
  one busy, as Lambda scales out; an idle one is reused (warm start), the one idle longest first, so every
  environment created keeps being used and pays for its own caches; with member accounts (bench/accounts.py) that
  includes its member-role credentials and clients (aws/clients.AccountClients), as the deployed function keeps them.
  Every queue's mapping invokes the same function, so they share the environments. `idle_before_each_notice`: the
  quiet scenario, where notices are far apart: Lambda drops an environment idle for some minutes, so every idle one
  is dropped before the first copy of a new notice is handed over, and that notice starts in a new environment (its
  clients and caches built again; the runtime's own init, measured by the cold-start line, is not in these seconds).
- the handler's follow-ups (delayed messages it sends to the notice queue) reach it through the same poller, in the
  same batches as notices, as they do deployed; their SendMessageBatch calls are the function's and are counted.
- `handler`: what an invocation runs (bench/harness: app.lambda_handler's logic; bench/gather.py: an experiment that
  receives more of a burst itself, whose ReceiveMessage/DeleteMessageBatch are the function's and are counted).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
from spot_handler.aws import AccountClients, AwsClients
from spot_handler.followups import is_follow_up
from spot_handler.settings import Settings

from bench.scenario import Notice, stamp
from bench.server import POLLER_ACCESS_KEY
from local.lambda_runtime import REGION, SQS_BATCH_LIMIT, EventSourceMapping, record_of_message

QUEUE_VISIBILITY_TIMEOUT = 360  # template.yaml: NoticeQueue, LoneNoticeQueue and StateChangeQueue
POLL_SECONDS = 0.05  # how often a poller looks again once less than a second of its window is left


@dataclass(frozen=True)
class Lane:
    """One queue the notices reach and the event source mapping that feeds the function from it."""

    name: str  # the template's queue (NoticeQueue, LoneNoticeQueue, StateChangeQueue)
    queue_url: str
    queue_arn: str
    mapping: EventSourceMapping
    kinds: frozenset[str] | None = None  # detail-types its rules deliver; None: every notice


@dataclass
class LaneRun:
    invocations: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    left_to_batched_lane: int = 0  # invocations that handed their records to the notice queue's copy (lanes.py)


@dataclass
class OursRun:
    lanes: dict[str, LaneRun] = field(default_factory=dict)
    batch_item_failures: int = 0
    errors: list[str] = field(default_factory=list)  # invocations that raised (Lambda would retry the whole batch)
    follow_up_records: int = 0  # the handler's own delayed messages it was handed back
    follow_up_invocations: int = 0
    environments: int = 0  # execution environments created
    environments_reclaimed: int = 0  # dropped for idling before a new notice (idle_before_each_notice)
    assume_role_calls: int = 0  # AssumeRole sent by every environment's AccountClients (hub and spoke only)
    acted_at: dict[str, float] = field(default_factory=dict)  # notice id -> when an invocation that acted got it

    @property
    def invocations(self) -> int:
        return sum(lane.invocations for lane in self.lanes.values())

    @property
    def batch_sizes(self) -> list[int]:
        return [size for lane in self.lanes.values() for size in lane.batch_sizes]


# An invocation: (event, the environment's clients, its member-account clients) -> the record ids reported failed, or
# None when it left every record to the batched lane (app.lambda_handler's answer, as the poller reads it).
Handler = Callable[[dict, AwsClients, AccountClients | None], set[str] | None]


@contextlib.contextmanager
def endpoint(url: str):
    """Point boto3 at `url` while clients are built, the way the demo and tests point the handler at moto."""
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved


def service_client(endpoint_url: str):
    """An SQS client signing as the Lambda service (and EventBridge): the server neither counts nor slows it."""
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=POLLER_ACCESS_KEY,
        aws_secret_access_key="poller",
    )


def create_lane(sqs, name: str, mapping: EventSourceMapping, kinds: frozenset[str] | None = None) -> Lane:
    """A queue as template.yaml declares it (the visibility timeout is what matters here), fed by `mapping`."""
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(QUEUE_VISIBILITY_TIMEOUT)})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Lane(name, url, arn, mapping, kinds)


def run_ours(
    notices: list[Notice],
    lanes: list[Lane],
    session: boto3.session.Session,
    endpoint_url: str,
    settings: Settings,
    start_at: float,
    time_limit_s: float,
    handler: Handler,
    pollers: int = 1,
    idle_before_each_notice: bool = False,
    unrelated: list[tuple[float, dict]] = (),
) -> OursRun:
    """Send every notice at start_at + its offset to the lanes' queues and let the modelled event sources invoke
    `handler` until every notice and follow-up is handled, or the time limit. `unrelated`: other events EventBridge
    delivers in the same window, (offset, event), such as state changes no interruption is behind."""
    run = OursRun(lanes={lane.name: LaneRun() for lane in lanes})
    lock = threading.Lock()
    idle: queue.SimpleQueue[tuple[AwsClients, float]] = queue.SimpleQueue()  # the one idle longest first
    accounts: dict[int, AccountClients] = {}  # per environment, with member accounts: clients and role credentials
    sqs = service_client(endpoint_url)
    stop = threading.Event()
    in_flight = [0]  # messages received by a poller whose invocation has not finished
    hard_stop = start_at + time_limit_s
    ids = {n.event["id"] for n in notices}

    seen: set[str] = set()  # notices some invocation has been handed a copy of

    def environment(notice_ids: set[str]) -> AwsClients:
        with lock:
            new = notice_ids - seen
            seen.update(notice_ids)
        while idle_before_each_notice and new:
            try:
                idle.get_nowait()
            except queue.Empty:
                break
            with lock:
                run.environments_reclaimed += 1
        try:
            return idle.get_nowait()[0]
        except queue.Empty:
            pass
        with lock:
            run.environments += 1
        clients = AwsClients.create(session)
        if settings.organization_mode:
            accounts[id(clients)] = AccountClients(
                clients, settings.hub_account_id, settings.member_role_name, settings.partition, session=session
            )
        return clients

    def invoke(lane: Lane, messages: list[dict], slots: threading.Semaphore, handed_at: float) -> None:
        records = [record_of_message(m, lane.queue_arn) for m in messages]
        bodies = [_body(m["Body"]) for m in messages]
        follow_ups = sum(1 for body in bodies if is_follow_up(body))
        clients = environment({b["id"] for b in bodies if isinstance(b, dict) and b.get("id") in ids})
        failed: set[str] = set()
        try:
            answer = handler({"Records": records}, clients, accounts.get(id(clients)))
            with lock:
                if answer is None:
                    run.lanes[lane.name].left_to_batched_lane += 1
                else:
                    failed = answer
                    run.batch_item_failures += len(answer)
                    for body in bodies:
                        notice_id = body.get("id", "") if isinstance(body, dict) else ""
                        if notice_id in ids:
                            run.acted_at[notice_id] = min(handed_at, run.acted_at.get(notice_id, handed_at))
        except Exception as exc:  # noqa: BLE001 - recorded: Lambda would retry the batch after the visibility timeout
            failed = {r["messageId"] for r in records}
            with lock:
                run.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            idle.put((clients, time.time()))
            handled = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(handled), SQS_BATCH_LIMIT):
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(handled[start : start + SQS_BATCH_LIMIT])
                ]
                sqs.delete_message_batch(QueueUrl=lane.queue_url, Entries=entries)
            with lock:
                in_flight[0] -= len(messages)
                if follow_ups:
                    run.follow_up_records += follow_ups
                    run.follow_up_invocations += 1
            slots.release()

    def receive(lane: Lane, most: int, wait_s: int) -> list[dict]:
        got = sqs.receive_message(
            QueueUrl=lane.queue_url,
            MaxNumberOfMessages=min(SQS_BATCH_LIMIT, most),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
        ).get("Messages", [])
        if got:
            with lock:
                in_flight[0] += len(got)
        return got

    def gather(lane: Lane) -> list[dict]:
        """One batch, as the event source gathers it; [] once the run stops."""
        size = lane.mapping.effective_batch_size
        batch: list[dict] = []
        while not batch:
            if stop.is_set():
                return []
            batch = receive(lane, size, wait_s=1)
        window_ends = time.time() + lane.mapping.batching_window_s
        while len(batch) < size:
            left = window_ends - time.time()
            if left <= 0:
                break
            more = receive(lane, size - len(batch), wait_s=int(left))
            batch += more
            if not more and left < 1:
                time.sleep(min(POLL_SECONDS, left))
        return batch

    def poll(lane: Lane, slots: threading.Semaphore, pool: ThreadPoolExecutor) -> None:
        while not stop.is_set():
            if not slots.acquire(timeout=0.5):
                continue
            batch = gather(lane)
            if not batch:
                slots.release()
                continue
            with lock:
                run.lanes[lane.name].invocations += 1
                run.lanes[lane.name].batch_sizes.append(len(batch))
            pool.submit(invoke, lane, batch, slots, time.time())

    def deliver() -> None:
        """EventBridge: each notice, stamped with its time, to every queue whose rule matches it."""
        events = sorted([(n.offset_s, n.event) for n in notices] + list(unrelated), key=lambda e: e[0])
        for offset_s, event in events:
            due = start_at + offset_s
            if due >= hard_stop:
                break
            time.sleep(max(0.0, due - time.time()))
            body = json.dumps(stamp(event, due))
            for lane in lanes:
                if lane.kinds is None or event.get("detail-type") in lane.kinds:
                    sqs.send_message(QueueUrl=lane.queue_url, MessageBody=body)

    workers = sum(lane.mapping.max_concurrency for lane in lanes)
    # Every client any environment builds (its first, or one for another account or region) points at the server.
    with endpoint(endpoint_url), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="invocation") as pool:
        threads = []
        for lane in lanes:
            slots = threading.Semaphore(lane.mapping.max_concurrency)
            for number in range(max(1, min(pollers, lane.mapping.max_concurrency))):
                thread = threading.Thread(target=poll, args=(lane, slots, pool), name=f"poller-{lane.name}-{number}")
                thread.start()
                threads.append(thread)
        deliver()
        # Twice in a row: a message a poller has just received is counted in flight only once its receive returned.
        settled = 0
        while time.time() < hard_stop and settled < 2:
            settled = settled + 1 if _all_handled(sqs, lanes, in_flight, lock) else 0
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
    run.assume_role_calls = sum(a.assume_role_calls for a in accounts.values())
    return run


def _all_handled(sqs, lanes: list[Lane], in_flight: list[int], lock: threading.Lock) -> bool:
    """Nothing visible or delayed in any queue, and nothing received still being handled. (Messages reported failed
    stay invisible until the visibility timeout: they are counted, not waited for.)"""
    with lock:
        if in_flight[0]:
            return False
    for lane in lanes:
        counts = sqs.get_queue_attributes(
            QueueUrl=lane.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        if any(int(value) for value in counts.values()):
            return False
    return True


def _body(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
