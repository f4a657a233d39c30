"""What Lambda does around the function, run locally: the context object, the SQS records its event source mapping
builds, the mapping's settings, and the poller that receives from a queue and deletes what the function handled.

The demo, the bench, the reliability suite and the tests all hand the handler its input through this module, so the
shape of what they pass is the shape Lambda passes, in one place.

- `LambdaContext`: the attributes of Lambda's context object the handler and Powertools read.
- `sqs_record` / `record_of_message` / `sqs_event`: the SQS event of an invocation (AWS Lambda Developer Guide,
  "Using Lambda with Amazon SQS": messageId, receiptHandle, body, attributes, messageAttributes, md5OfBody,
  eventSource, eventSourceARN, awsRegion).
- `EventSourceMapping`: BatchSize, MaximumBatchingWindowInSeconds and MaximumConcurrency of one queue's mapping, by
  default template.yaml's (Mappings.NoticeBatching).
- `QueuePoller`: receive a batch from a real (moto) queue, and after the invocation delete the records the function
  did not name in batchItemFailures; those stay invisible until the visibility timeout, as with Lambda.
- `in_process_function`: app.lambda_handler imported and configured from an environment, as Lambda loads it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
CODE_PATH = [str(ROOT / "layers" / "spot_common"), str(ROOT / "functions" / "interruption_handler")]
REGION = "us-east-2"
ACCOUNT = "123456789012"  # moto's default account, the one the sample events name
FUNCTION_NAME = "spot-handler-interruption-handler"
TIMEOUT_SECONDS = 60  # template.yaml: Globals.Function.Timeout
MEMORY_MB = 512  # template.yaml: Globals.Function.MemorySize
SQS_BATCH_LIMIT = 10  # ReceiveMessage and DeleteMessageBatch take at most ten messages


class LambdaContext:
    """The parts of Lambda's context object the handler and Powertools read; the clock starts at construction."""

    function_version = "$LATEST"
    memory_limit_in_mb = MEMORY_MB

    def __init__(
        self,
        function_name: str = FUNCTION_NAME,
        *,
        region: str = REGION,
        account: str = ACCOUNT,
        timeout_seconds: float = TIMEOUT_SECONDS,
        aws_request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def queue_arn(name: str = "notices", region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def sqs_record(
    body: str,
    message_id: str | None = None,
    *,
    source_arn: str | None = None,
    receipt_handle: str | None = None,
    attributes: Mapping[str, str] | None = None,
    sent_at: float | None = None,
) -> dict[str, Any]:
    """One record of the SQS event Lambda's poller passes to the function.

    Records of messages that were never in a queue (the bench, tests) get the attributes of a first delivery sent at
    `sent_at` (epoch seconds, default now); `record_of_message` passes a received message's own."""
    message_id = message_id or str(uuid.uuid4())
    source_arn = source_arn or queue_arn()
    if attributes is None:
        now = time.time()
        attributes = {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(int((sent_at or now) * 1000)),
            "SenderId": "AIDAEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": str(int(now * 1000)),
        }
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle or f"local-{message_id}",
        "body": body,
        "attributes": dict(attributes),
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # nosec B324 - SQS's own checksum, not security
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": source_arn.split(":")[3],
    }


def record_of_message(message: Mapping[str, Any], source_arn: str) -> dict[str, Any]:
    """The record of a message ReceiveMessage returned (AttributeNames=All)."""
    return sqs_record(
        message["Body"],
        message["MessageId"],
        source_arn=source_arn,
        receipt_handle=message["ReceiptHandle"],
        attributes=message.get("Attributes", {}),
    )


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_event_of(*bodies: str) -> dict[str, Any]:
    """An SQS event with one record per body: a batch as the poller would pass it."""
    return sqs_event(sqs_record(body) for body in bodies)


@dataclass(frozen=True)
class EventSourceMapping:
    """The settings of one SQS event source mapping that shape invocations."""

    batch_size: int
    batching_window_s: float
    max_concurrency: int
    overridden: bool = False  # not the template's
    queue: str = "NoticeQueue"  # the template's logical id of the queue it polls

    @property
    def effective_batch_size(self) -> int:
        """The largest batch AWS hands over: a BatchSize above 10 needs a batching window (of at least 1 s)."""
        return self.batch_size if self.batching_window_s > 0 else min(self.batch_size, SQS_BATCH_LIMIT)

    @classmethod
    def from_template(cls, template: Path = TEMPLATE, queue: str = "NoticeQueue") -> EventSourceMapping:
        """The mapping of `queue` as template.yaml declares it (the queue of every notice by default)."""
        return cls.all_from_template(template)[queue]

    @classmethod
    def all_from_template(cls, template: Path = TEMPLATE) -> dict[str, EventSourceMapping]:
        """Every SQS event source of the interruption handler as template.yaml declares it, by queue: BatchSize,
        MaximumBatchingWindowInSeconds and ScalingConfig.MaximumConcurrency, with !FindInMap and !Ref (a parameter's
        default) resolved."""
        document = load_template(template)
        events = document["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Events"]
        mappings = {}
        for event in events.values():
            if event.get("Type") != "SQS":
                continue
            properties = event["Properties"]
            queue = properties["Queue"]["Fn::GetAtt"].split(".")[0]
            value = functools.partial(resolve, document)
            mappings[queue] = cls(
                batch_size=int(value(properties["BatchSize"])),
                batching_window_s=float(value(properties["MaximumBatchingWindowInSeconds"])),
                max_concurrency=int(value(properties["ScalingConfig"]["MaximumConcurrency"])),
                queue=queue,
            )
        return mappings


FUNCTION_LOGICAL_ID = "InterruptionHandlerFunction"


def load_template(template: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as data, its short-form intrinsics in their long form ({"Fn::FindInMap": [...]}, {"Ref": ...})."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        name = suffix if suffix == "Ref" else f"Fn::{suffix}"
        return {name: value}

    _Loader.add_multi_constructor("!", intrinsic)
    return yaml.load(template.read_text(), Loader=_Loader)  # nosec B506 - a SafeLoader subclass


def resolve(document: dict[str, Any], value: Any) -> Any:
    """A property's value: a literal, a !FindInMap of literal keys, or a !Ref to a parameter (its default)."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        name, top, second = value["Fn::FindInMap"]
        return document["Mappings"][name][top][second]
    if isinstance(value, dict) and "Ref" in value:
        return document["Parameters"][value["Ref"]]["Default"]
    return value


@dataclass
class QueuePoller:
    """Lambda's poller on one queue: receive a batch, hand it over as an SQS event, delete what was handled."""

    sqs: Any  # a boto3 SQS client
    queue_url: str
    batch_size: int = SQS_BATCH_LIMIT

    def __post_init__(self) -> None:
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def receive(self, *, visibility_timeout: int | None = None, wait_seconds: float = 0) -> list[dict[str, Any]]:
        """Up to batch_size messages; with wait_seconds, keep asking until the first arrive or the wait is over."""
        deadline = time.monotonic() + wait_seconds
        extra = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
        batch: list[dict[str, Any]] = []
        while len(batch) < self.batch_size:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(SQS_BATCH_LIMIT, self.batch_size - len(batch)),
                WaitTimeSeconds=1 if wait_seconds and not batch else 0,
                AttributeNames=["All"],
                **extra,
            ).get("Messages", [])
            batch += got
            if not got and (batch or time.monotonic() >= deadline):
                break
        return batch

    def event(self, messages: Iterable[dict[str, Any]]) -> dict[str, Any]:
        return sqs_event(record_of_message(m, self.queue_arn) for m in messages)

    def delete_handled(self, messages: list[dict[str, Any]], failed: set[str]) -> list[dict[str, Any]]:
        """Delete every message the function did not report failed; returns the ones left for a redelivery."""
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_BATCH_LIMIT):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + SQS_BATCH_LIMIT])
                ],
            )
        return [m for m in messages if m["MessageId"] in failed]


def failed_ids(response: Mapping[str, Any]) -> set[str]:
    """The message ids of a ReportBatchItemFailures response."""
    return {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}


@contextlib.contextmanager
def in_process_function(environment: Mapping[str, str]) -> Iterator[Any]:
    """app.lambda_handler with `environment` set, as Lambda sets it before loading the function; the handler's
    cached settings and clients are read afresh inside and after, and the environment is restored afterwards."""
    for folder in CODE_PATH:
        if folder not in sys.path:
            sys.path.append(folder)
    from spot_handler.aws.clients import default_clients
    from spot_handler.settings import get_settings

    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    default_clients.cache_clear()
    get_settings.cache_clear()
    try:
        import app  # the handler module, exactly as Lambda loads it

        yield app.lambda_handler
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        default_clients.cache_clear()
        get_settings.cache_clear()
