"""Shared fixtures: a moto account (in-process), the alert topic with an SQS subscriber, the handler's clients, and
the GameLift fake (one server for the whole run, its state emptied for each test)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# Lambda sets these before the handler module is imported; the layer's child loggers take their service name from
# it at import time, so it must be set before any test module imports spot_handler.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "spot-interruption-handler")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SpotInterruptionHandlerTests")
# moto gives every region of every fresh account about 1,300 stock images, each with a volume and a snapshot: most of
# a test's account setup. The tests (and the moto servers they start, which inherit this) launch one image,
# local.account.AMI; this catalogue holds just that one, as moto ships it.
os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).parent / "support" / "moto_amis.json"))

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws
from spot_handler.aws import AccountClients, AwsClients
from spot_handler.budget import TimeBudget
from spot_handler.invocation import InvocationReport, handle_invocation
from spot_handler.settings import Settings

from local import moto_fidelity
from local.account import AccountBuilder
from local.gamelift_fake import GameLiftServer, GameLiftState, start, stop
from tests.support.alerts import ReceivedAlert, received_alerts

REGION = "us-east-2"
ACCOUNT = "123456789012"  # moto's default account, the one the sample events name

# Every test makes fresh boto3 sessions (its moto account, member accounts, the handler's clients), and every botocore
# session reads the JSON service models again through a loader of its own: EC2's alone is megabytes, and reading them
# was more than half of an integration test's time. The models are read-only and botocore caches them per loader, so
# all sessions of a test run share one loader per data path. What the code under test does with its clients is the
# same; a Lambda execution environment also reads each model once.
botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "SpotInterruptionHandlerTests",
        "POWERTOOLS_SERVICE_NAME": "spot-interruption-handler",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class FakeAccount:
    """The moto account a test runs against, with the handler's wiring (topic, subscriber queue, DLQ)."""

    builder: AccountBuilder
    clients: AwsClients
    topic_arn: str
    subscriber_queue_url: str
    dead_letter_queue_url: str
    notice_queue_url: str = ""  # the handler's own queue: where its follow-ups go
    # Settings every invocation of this test gets unless it overrides them (a table a fixture created, say).
    setting_defaults: dict[str, object] = field(default_factory=dict)

    def settings(self, **overrides) -> Settings:
        values = {
            "alert_topic_arn": self.topic_arn,
            "dead_letter_queue_url": self.dead_letter_queue_url,
            "notice_queue_url": self.notice_queue_url,
        }
        values.update(self.setting_defaults)
        values.update(overrides)
        # Steps' own settings (steps/*.py) given as `steps=(EcsSettings(...),)`: an override replaces only its step's
        steps = [*self.setting_defaults.get("steps", ()), *overrides.get("steps", ())]
        values["steps"] = ()
        return Settings(**values).with_steps(*steps)

    def invoke(
        self,
        event,
        clients: AwsClients | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        budget: TimeBudget | None = None,
        accounts: AccountClients | None = None,
        **settings,
    ) -> InvocationReport:
        """The handler's logic on this account, as the entry point calls it (its own clients unless given; `accounts`:
        the member accounts' clients of a hub, as the entry point keeps them per execution environment)."""
        extra = {"clock": clock} if clock else {}
        return handle_invocation(
            event, clients or self.clients, self.settings(**settings), budget=budget, accounts=accounts, **extra
        )

    def alerts(self) -> list[ReceivedAlert]:
        return received_alerts(self.clients.sqs, self.subscriber_queue_url)

    def email_texts(self) -> list[tuple[str, str]]:
        """(subject, body) of every alert as an e-mail subscriber reads it (SNS picks the message's "email" key)."""
        from moto.sns import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics[self.topic_arn]
        return [(subject, json.loads(message)["email"]) for _, message, subject, _, _ in topic.sent_notifications]

    def dead_letters(self) -> list[dict]:
        from tests.support.alerts import drain_queue

        return drain_queue(self.clients.sqs, self.dead_letter_queue_url)


@pytest.fixture
def account():
    moto_fidelity.apply()
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        builder = AccountBuilder(session).network()
        sns = session.client("sns")
        sqs = session.client("sqs")
        topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
        subscriber = sqs.create_queue(QueueName="alert-subscriber")["QueueUrl"]
        subscriber_arn = sqs.get_queue_attributes(QueueUrl=subscriber, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=subscriber_arn)
        sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="ops@example.com")
        dlq = sqs.create_queue(QueueName="notices-dlq")["QueueUrl"]
        notices = sqs.create_queue(QueueName="handler-notices")["QueueUrl"]
        yield FakeAccount(builder, AwsClients.create(session), topic_arn, subscriber, dlq, notices)


@pytest.fixture(scope="session")
def gamelift_fake() -> GameLiftServer:
    """The GameLift fake on a free loopback port; its endpoint is `gamelift_fake.url`."""
    server, url = start(state=GameLiftState(region=REGION))
    server.url = url
    yield server
    stop(server)


@pytest.fixture
def gamelift_state(gamelift_fake) -> GameLiftState:
    """The fake's state, empty, with the default page size; the test fails if the fake answered outside the model."""
    state = gamelift_fake.state
    state.reset()
    state.max_page_size = 100
    yield state
    assert state.bugs == [], "the fake answered outside the GameLift model"


# ---- lines the slow suites print after the results (timings, the DEPLOY line) -------------------------------------

_SUMMARIES: dict[str, list[str]] = {}


@pytest.fixture(scope="session")
def e2e_timings() -> list[str]:
    """sam build and each sam local invoke, timed: printed after the test results."""
    return _SUMMARIES.setdefault("e2e timings", [])


@pytest.fixture(scope="session")
def deploy_summary() -> list[str]:
    """The deploy rehearsal's DEPLOY line and timings: printed after the test results."""
    return _SUMMARIES.setdefault("deploy-local", [])


def pytest_terminal_summary(terminalreporter):
    for title, lines in _SUMMARIES.items():
        if lines:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)
