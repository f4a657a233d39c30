"""A cached factory of boto3 clients with bounded retries and timeouts.

Endpoints follow boto3's own configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), which is how the local
demo and the tests point the handler at moto and the GameLift fake without any code path of their own.
"""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any, NamedTuple

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

# What an AWS call can raise once botocore's retries are spent: an error answer, or no answer at all.
AWS_ERRORS = (ClientError, BotoCoreError)

# Two minutes is the whole budget: a call may retry, but never for long. `total_max_attempts` counts every request
# (`max_attempts` would count retries after the first: 5 requests). The worst case of one call is
# CALL_ATTEMPTS x (connect 2 s + read 5 s) plus standard mode's backoff between them.
CALL_ATTEMPTS = 4
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": CALL_ATTEMPTS},
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
    events: Any = None  # EventBridge: alerts put on a bus (alerting/events.py)

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
            events=make("events"),
        )


@functools.lru_cache(maxsize=1)
def default_clients() -> AwsClients:
    """Clients built once per execution environment and reused by every invocation."""
    return AwsClients.create()


@functools.lru_cache(maxsize=1)
def default_account_clients(hub_account: str, role_name: str, partition: str) -> AccountClients:
    """The member-account clients and role credentials of this execution environment, kept across invocations."""
    return AccountClients(default_clients(), hub_account, role_name, partition)


class UnreachableClient:
    """Stands in for a member account's client when its role cannot be assumed: every call raises the AssumeRole
    error as a ClientError naming the account and role, so each step reports it for that account's notices (and
    their alerts say it), exactly as it would report any other AWS error, while other accounts are drained as usual.
    """

    def __init__(self, code: str, reason: str):
        self._code, self._reason = code, reason

    def __getattr__(self, operation: str):
        def refuse(*args: Any, **kwargs: Any):
            raise ClientError({"Error": {"Code": self._code, "Message": self._reason}}, operation)

        return refuse


ROLE_SESSION_NAME = "spot-interruption-handler"
REFUSAL_MEMORY_SECONDS = 60.0  # a member role that refused is not asked again for this long (per environment)
# Member roles assumed at once: as many as the groups of a batch handled at once, and more, so roles that hang (each
# bounded by the client's timeouts) do not keep a fifth account waiting.
ASSUMING_AT_ONCE = 16
# The services the handler acts on in the instance's account (member/template.yaml's role); the others (SNS, SQS,
# DynamoDB, EventBridge) are always the hub's own.
MEMBER_SERVICES = ("ec2", "elbv2", "autoscaling", "gamelift", "ecs", "elb")


class AccountClients:
    """Clients per (account, region): the function's own in the hub account, a member role's in any other.

    A notice from a member account (or from another region of the hub's) is acted on there, through
    `arn:<partition>:iam::<account>:role/<role_name>`. The role's credentials are kept per account for the whole
    execution environment and refreshed by botocore shortly before they expire (RefreshableCredentials: 15 minutes
    ahead when it can, 10 minutes ahead at the latest, one refresh at a time), so AssumeRole is called about once per
    account and execution environment, never per notice. Clients are built once per (account, region).

    Alerts, parking, follow-ups, claims and checkpoints always use the hub's SNS, SQS and DynamoDB: the clients
    returned for a member account carry the member's MEMBER_SERVICES clients only.
    """

    def __init__(
        self,
        hub: AwsClients,
        hub_account: str,
        role_name: str,
        partition: str = "aws",
        session: boto3.session.Session | None = None,
        config: Config = CLIENT_CONFIG,
    ):
        self.hub = hub
        self.hub_account = hub_account
        self.role_name = role_name
        self.partition = partition
        self._session = session or boto3.session.Session()
        self._config = config
        self._lock = threading.Lock()  # guards the dicts below
        self._credentials: dict[str, RefreshableCredentials] = {}
        self._clients: dict[tuple[str, str], AwsClients] = {}
        self._attempts: dict[str, Future] = {}  # account -> its AssumeRole, running or done
        self._refused: dict[str, tuple[str, str, float]] = {}  # account -> (code, reason, until monotonic)
        # AssumeRole runs here, so a caller waits only its own budget for it; the call itself is bounded by the
        # client's timeouts and retries (CLIENT_CONFIG).
        self._assumer = ThreadPoolExecutor(max_workers=ASSUMING_AT_ONCE, thread_name_prefix="assume-role")
        self._sts = None
        self.assume_role_calls = 0  # every AssumeRole sent, refused ones included: the bench reports it

    def role_arn(self, account: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{self.role_name}"

    def for_account_region(self, account: str, region: str, budget=None) -> AwsClients:
        """The clients that act on instances of `account` in `region`.

        The member role is assumed once per account, however many regions (and groups of one batch) ask for it at
        once: they share the attempt, each waiting at most its own `budget` (budget.TimeBudget). A role that does not
        answer within it, or refuses, gives clients whose every call raises that error (UnreachableClient), so each
        step reports it for that account's notices (and their alerts say it) while the other accounts are drained as
        usual. A refusal is remembered for REFUSAL_MEMORY_SECONDS: the execution environment's next batches do not
        wait for it again. An attempt that is slow is not waited for past the budget; it runs on while the environment
        does (Lambda freezes it between invocations) and serves a later batch if it succeeds.
        """
        if account in (self.hub_account, "unknown") and region in (self._session.region_name, "unknown"):
            return self.hub
        # The function's own role acts in its own region only (template.yaml); the hub account's other regions are
        # reached like any member's, through the member role deployed there (docs/organization.md).
        account = self.hub_account if account == "unknown" else account
        key = (account, region)
        with self._lock:
            clients = self._clients.get(key)
            if clients is not None:
                return clients
            refused = self._refused.get(account)
            if refused is not None and refused[2] > time.monotonic():
                return self._stand_in(refused[0], refused[1])
            attempt = self._attempts.get(account)
            if attempt is None or (attempt.done() and attempt.exception() is not None):  # none yet, or it failed
                attempt = self._assumer.submit(self._member_session, account)
                self._attempts[account] = attempt
        timeout = None if budget is None else budget.remaining()
        try:
            session = attempt.result(timeout=timeout)
        except FutureTimeout:
            seconds = budget.work_seconds if budget is not None else 0
            reason = f"account {account}: role {self.role_arn(account)} did not answer within {seconds:.0f} s"
            return self._stand_in("AssumeRoleTimeout", reason)
        except AWS_ERRORS as exc:
            reason = f"account {account}: role {self.role_arn(account)} not assumed ({describe_error(exc)})"
            if is_permanent(describe_error(exc)):  # a refusal; throttling, 5xx or a timeout is asked again at once
                with self._lock:
                    if self._refused.get(account, (None, None, 0))[2] <= time.monotonic():
                        self._refused[account] = (error_code(exc), reason, time.monotonic() + REFUSAL_MEMORY_SECONDS)
            return self._stand_in(error_code(exc), reason)
        make = functools.partial(session.client, region_name=region, config=self._config)
        with self._lock:
            clients = self._clients.get(key)
            if clients is None:
                clients = self.hub._replace(**{service: make(service) for service in MEMBER_SERVICES})
                self._clients[key] = clients
        return clients

    def _stand_in(self, code: str, reason: str) -> AwsClients:
        stand_in = UnreachableClient(code, reason)
        return self.hub._replace(**dict.fromkeys(MEMBER_SERVICES, stand_in))

    def _member_session(self, account: str) -> boto3.session.Session:
        credentials = self._credentials.get(account)
        if credentials is None:
            # Assumed now, not on first use, so a missing or refusing role is named as such in every failure.
            first = self._assume(account)
            # A later refresh that fails raises the AWS error inside the call that needed it, which reports it.
            refresh = functools.partial(self._assume, account)
            credentials = RefreshableCredentials.create_from_metadata(first, refresh, "assume-role")
            self._credentials[account] = credentials
        core = botocore.session.get_session()
        # botocore has no public setter for refreshable credentials; this is the attribute its own loaders fill.
        core._credentials = credentials
        return boto3.session.Session(botocore_session=core)

    def _assume(self, account: str) -> dict[str, str]:
        with self._lock:
            if self._sts is None:
                self._sts = self._session.client("sts", config=self._config)
        self.assume_role_calls += 1
        answer = self._sts.assume_role(RoleArn=self.role_arn(account), RoleSessionName=ROLE_SESSION_NAME)
        creds = answer["Credentials"]
        expiry = creds["Expiration"]
        expiry = expiry if isinstance(expiry, datetime) else datetime.fromisoformat(str(expiry))
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.astimezone(UTC).isoformat(),
        }


# Errors a drain retried seconds later would meet again: no permission, nothing of that name, a request AWS refuses as
# written. Any other failure (throttling, 5xx, a timeout, no answer within the budget) is drained again (followups/).
PERMANENT_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "TargetGroupNotFound",
        "LoadBalancerNotFound",
        "AccessPointNotFound",
        "InvalidTarget",
        "InvalidInstance",
        "ValidationError",
        "InvalidParameterException",
        "ClusterNotFoundException",
    }
)


def is_permanent(error: str) -> bool:
    """Whether an error as describe_error writes it ("Code: message") would fail again if tried again."""
    return error.split(":", 1)[0].strip() in PERMANENT_ERROR_CODES


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
