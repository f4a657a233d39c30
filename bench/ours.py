"""Our design under load: the notice queue drained the way Lambda's SQS event source feeds the function.

Model of the event source mapping (template.yaml: BatchSize, MaxBatchingWindowSeconds, MaxConcurrency):
- a poller gathers messages into a batch until it holds BatchSize or MaximumBatchingWindowInSeconds have passed
  since it started gathering (it starts as soon as one message is there and an invocation slot is free);
- at most MaxConcurrency invocations run at once; while all are busy, messages wait in the queue;
- an execution environment (its own clients and caches) is created only when an invocation finds every existing
  one busy, as Lambda scales out; an idle one is reused (warm start), the one idle longest first, so every
  environment created keeps being used and pays for its own caches; with member accounts (bench/accounts.py) that
  includes its member-role credentials and clients (aws/clients.AccountClients), as the deployed function keeps them.
The poller's own ReceiveMessage/DeleteMessage calls are made by the Lambda service, not by the function, so they
are not simulated and not counted. Records failed through ReportBatchItemFailures would come back after the
queue's visibility timeout (360 s), long after the deadline; the bench counts them instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
from spot_handler.aws import AccountClients, AwsClients
from spot_handler.invocation import handle_invocation
from spot_handler.settings import Settings

from bench.scenario import Notice, stamp
from bench.server import POLLER_ACCESS_KEY
from local.lambda_runtime import REGION, EventSourceMapping, QueuePoller, queue_arn, sqs_record

BENCH_QUEUE_ARN = queue_arn("bench-NoticeQueue")


@dataclass
class OursRun:
    invocations: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    batch_item_failures: int = 0
    errors: list[str] = field(default_factory=list)  # invocations that raised (Lambda would retry the whole batch)
    follow_up_records: int = 0  # the handler's own delayed messages it was handed back
    follow_up_invocations: int = 0
    environments: int = 0  # execution environments created: the peak of concurrent invocations
    assume_role_calls: int = 0  # AssumeRole sent by every environment's AccountClients (hub and spoke only)


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


def run_ours(
    notices: list[Notice],
    mapping: EventSourceMapping,
    session: boto3.session.Session,
    endpoint_url: str,
    settings: Settings,
    start_at: float,
    time_limit_s: float,
) -> OursRun:
    """Deliver every notice at start_at + its offset and let the modelled event source invoke the handler."""
    run = OursRun()
    lock = threading.Lock()
    idle: queue.SimpleQueue[AwsClients] = queue.SimpleQueue()  # first in, first out: the one idle longest
    accounts: dict[int, AccountClients] = {}  # per environment, with member accounts: clients and role credentials
    slots = threading.Semaphore(mapping.max_concurrency)

    def environment() -> AwsClients:
        try:
            return idle.get_nowait()
        except queue.Empty:
            with lock:
                run.environments += 1
                clients = AwsClients.create(session)
                if settings.organization_mode:
                    accounts[id(clients)] = AccountClients(
                        clients, settings.hub_account_id, settings.member_role_name, settings.partition, session=session
                    )
                return clients

    def invoke(records: list[dict], done=None) -> None:
        clients = environment()
        failed: set[str] = set()
        try:
            report = handle_invocation({"Records": records}, clients, settings, accounts=accounts.get(id(clients)))
            failed = set(report.batch_item_failures)
            with lock:
                run.batch_item_failures += len(report.batch_item_failures)
        except Exception as exc:  # noqa: BLE001 - recorded: Lambda would retry the batch after the visibility timeout
            failed = {r["messageId"] for r in records}
            with lock:
                run.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            idle.put(clients)
            if done is not None:
                done(failed)
            slots.release()

    pending = list(notices)  # in arrival order
    next_index = 0
    hard_stop = start_at + time_limit_s
    # Every client any environment builds (its first, or one for another account or region) points at the server.
    with (
        endpoint(endpoint_url),
        ThreadPoolExecutor(max_workers=mapping.max_concurrency, thread_name_prefix="invocation") as pool,
    ):
        while next_index < len(pending) and time.time() < hard_stop:
            slots.acquire()
            # Wait for the first message, then gather until the batch is full or the window has passed.
            first_due = start_at + pending[next_index].offset_s
            time.sleep(max(0.0, first_due - time.time()))
            window_ends = max(time.time(), first_due) + mapping.batching_window_s
            batch: list[dict] = []
            while next_index < len(pending) and len(batch) < mapping.batch_size:
                due = start_at + pending[next_index].offset_s
                now = time.time()
                if due <= now:
                    event = stamp(pending[next_index].event, due)
                    batch.append(sqs_record(json.dumps(event), event["id"], source_arn=BENCH_QUEUE_ARN, sent_at=due))
                    next_index += 1
                elif due <= window_ends and due < hard_stop:
                    time.sleep(due - now)
                else:
                    time.sleep(max(0.0, min(window_ends, hard_stop) - now))
                    break
            run.invocations += 1
            run.batch_sizes.append(len(batch))
            pool.submit(invoke, batch)
        if settings.notice_queue_url:
            _deliver_follow_ups(run, mapping, endpoint_url, settings.notice_queue_url, hard_stop, slots, pool, invoke)
    run.assume_role_calls = sum(a.assume_role_calls for a in accounts.values())
    return run


def _deliver_follow_ups(run, mapping, endpoint_url: str, queue_url: str, hard_stop: float, slots, pool, invoke):
    """The handler's follow-ups (delayed messages on its notice queue), delivered as the event source mapping would:
    received once their delay has passed, in batches, and deleted once handled. The poller signs as the Lambda
    service, so the bench server does not count its ReceiveMessage/DeleteMessage calls; the function's do count."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=POLLER_ACCESS_KEY,
        aws_secret_access_key="poller",
    )
    poller = QueuePoller(sqs, queue_url, batch_size=mapping.batch_size)
    counts = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    while time.time() < hard_stop:
        slots.acquire()
        messages = poller.receive(wait_seconds=mapping.batching_window_s)
        if not messages:
            slots.release()
            left = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=counts)["Attributes"]
            if not any(int(left[name]) for name in counts):
                return
            continue
        run.follow_up_records += len(messages)
        run.follow_up_invocations += 1
        pool.submit(
            invoke, poller.event(messages)["Records"], lambda failed, m=messages: poller.delete_handled(m, failed)
        )
