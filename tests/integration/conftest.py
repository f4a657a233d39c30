"""Fixtures of the handler's integration tests: its clients with GameLift on the fake, and the Lambda entry point."""

from __future__ import annotations

import boto3
import pytest
from spot_handler.aws.clients import CLIENT_CONFIG

from local.lambda_runtime import in_process_function
from tests.conftest import REGION
from tests.support.followups import IDEMPOTENCY_TABLE


@pytest.fixture
def handler_clients(account, gamelift_fake, gamelift_state):
    """The handler's clients, with GameLift pointed at the fake (same retry config as in Lambda)."""
    gamelift = boto3.session.Session(region_name=REGION).client(
        "gamelift", endpoint_url=gamelift_fake.url, config=CLIENT_CONFIG
    )
    return account.clients._replace(gamelift=gamelift)


@pytest.fixture
def guarded(account):
    """The account with its idempotency table (as template.yaml declares it): its invocations claim in it."""
    account.setting_defaults["idempotency_table_name"] = account.builder.idempotency_table(IDEMPOTENCY_TABLE)
    return account


@pytest.fixture
def lambda_function(account, monkeypatch):
    """app.lambda_handler configured from its environment, as in the cloud, wired to the moto account.

    The variables go through monkeypatch, so a test can change them too and all are undone in order."""
    monkeypatch.setenv("ALERT_TOPIC_ARN", account.topic_arn)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", account.dead_letter_queue_url)
    with in_process_function({}) as lambda_handler:
        yield lambda_handler
