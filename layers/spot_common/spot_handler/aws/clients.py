"""A cached factory of boto3 clients with bounded retries and timeouts.

Endpoints follow boto3's own configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), which is how the local
demo and the tests point the handler at moto and the GameLift fake without any code path of their own.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# What an AWS call can raise once botocore's retries are spent: an error answer, or no answer at all.
AWS_ERRORS = (ClientError, BotoCoreError)

# Two minutes is the whole budget: a call may retry, but never for long.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=20,
)


class AwsClients(NamedTuple):
    ec2: Any
    elbv2: Any
    autoscaling: Any
    sns: Any
    sqs: Any
    gamelift: Any
    dynamodb: Any
    ecs: Any = None
    elb: Any = None  # Classic Load Balancers

    @classmethod
    def create(cls, session: boto3.session.Session | None = None, config: Config = CLIENT_CONFIG) -> AwsClients:
        session = session or boto3.session.Session()
        make = functools.partial(session.client, config=config)
        return cls(
            ec2=make("ec2"),
            elbv2=make("elbv2"),
            autoscaling=make("autoscaling"),
            sns=make("sns"),
            sqs=make("sqs"),
            gamelift=make("gamelift"),
            dynamodb=make("dynamodb"),
            ecs=make("ecs"),
            elb=make("elb"),
        )


@functools.lru_cache(maxsize=1)
def default_clients() -> AwsClients:
    """Clients built once per execution environment and reused by every invocation."""
    return AwsClients.create()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """A short, person-readable account of an AWS error: code and message."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        message = str(err.get("Message") or "").strip()
        return f"{err.get('Code') or type(exc).__name__}: {message}" if message else str(err.get("Code"))
    return f"{type(exc).__name__}: {exc}"


def describe_in_chunks(describe, keys: list[str], size: int, not_found: tuple[str, ...]):
    """({key: what describe(chunk) said of it}, {key: why it could not be described}), `size` keys per call.

    A describe call fails whole when one of its keys does not exist, so a chunk that fails with one of the `not_found`
    codes is described again one key at a time: the missing key is named and the others are still described. Any
    other error fails its chunk.
    """
    found, missing = {}, {}
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        try:
            found.update(describe(chunk))
        except AWS_ERRORS as exc:
            if error_code(exc) not in not_found or len(chunk) == 1:
                missing |= dict.fromkeys(chunk, describe_error(exc))
                continue
            for key in chunk:
                try:
                    found.update(describe([key]))
                except AWS_ERRORS as single:
                    missing[key] = describe_error(single)
    return found, missing
