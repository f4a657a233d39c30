"""EXPERIMENT, measured and not chosen (docs/design-notes.md): a short batching window, and the function gathering
more of a burst it sees arriving before it drains.

    python -m bench --single-queue --batching-window 1 --gather 9

An invocation whose batch holds more than one notice receives more from its own event source queue (ReceiveMessage,
up to ten at a time, long polling; after a receive that brought fewer than ten it waits half a second, so that each
call brings about ten of a mass reclaim's notices) for `gather_s` seconds or until a receive comes back empty,
handles everything it holds as one batch, then deletes what it received and handled (DeleteMessageBatch, ten at a
time). Those messages are its own to delete: the poller never saw them. Its SQS calls are the function's and the
bench counts them: about two per ten notices gathered. A batch of one notice is handled at once, so a lone notice
waits only the short window. Several invocations may gather at once (the poller keeps invoking while one gathers),
and each gathered batch pays its own DescribeInstances and per-target-group calls.
"""

from __future__ import annotations

import time

from bench.ours import Handler
from local.lambda_runtime import SQS_BATCH_LIMIT, record_of_message

PACE_SECONDS = 0.5  # between receives that came back with fewer than ten: at 16-17 notices a second, about ten


def gathering(handle: Handler, queue_url: str, queue_arn: str, gather_s: float) -> Handler:
    """`handle`, preceded by gathering more of a burst from the queue at `queue_url` (see the module)."""

    def gather_then_handle(event: dict, clients, accounts) -> set[str] | None:
        records = event["Records"]
        if len(records) < 2:
            return handle(event, clients, accounts)
        gathered: list[dict] = []
        ends = time.time() + gather_s
        while (left := ends - time.time()) > 0:
            got = clients.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=SQS_BATCH_LIMIT,
                WaitTimeSeconds=max(0, min(1, int(left))),
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break  # the burst has passed
            gathered += got
            if len(got) < SQS_BATCH_LIMIT:  # a long poll answers with the first message: let ten gather first
                time.sleep(min(left, PACE_SECONDS))
        own = {r["messageId"] for r in records}
        failed = handle({"Records": records + [record_of_message(m, queue_arn) for m in gathered]}, clients, accounts)
        failed = failed or set()
        handled = [m for m in gathered if m["MessageId"] not in failed]
        for start in range(0, len(handled), SQS_BATCH_LIMIT):
            clients.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(handled[start : start + SQS_BATCH_LIMIT])
                ],
            )
        # Gathered messages it failed stay in the queue and come back after the visibility timeout, as the
        # poller's would; only the poller's own records are its to report.
        return failed & own

    return gather_then_handle
