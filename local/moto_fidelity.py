"""Where moto's ELBv2 differs from AWS in ways this project depends on, make it behave like AWS.

AWS facts (Elastic Load Balancing API reference, RegisterTargets/DeregisterTargets):
- A target is an (Id, Port) pair: one instance can be registered on several ports of one target group, and each
  registration is listed separately by DescribeTargetHealth. moto 5 keys targets by Id alone, so a second port
  overwrites the first.
- Deregistering a target that is not registered succeeds. moto 5 answers InvalidTarget.

And one in its CloudFormation: AWS::DynamoDB::Table's SSESpecification says `SSEEnabled` (the CreateTable API says
`Enabled`); moto reads only `Enabled`, so a table the template encrypts would be created unencrypted.

And in its DynamoDB backend: DynamoDB isolates concurrent writes, transactions included; moto's backend is not
thread-safe (TransactWriteItems deep-copies each table it touches while other threads write to it, "dictionary
changed size during iteration"). Its item writes are serialized with one lock, as a table's writes are isolated.
And it snapshots a table for rollback once per action of a transaction, a deep copy of the whole table each time:
a 100-put transaction against a 1,000-item table took a second of the server's CPU (DynamoDB answers in tens of
milliseconds), stalling every other call the server was answering. It now snapshots each table once per
transaction, which is the same rollback state.

And in draining: a deregistered target stays listed by DescribeTargetHealth as `draining`
(Target.DeregistrationInProgress) for the target group's deregistration delay, then leaves; moto drops it at once.
Here it drains for the delay in force when it was deregistered (AWS ends draining early once in-flight requests are
done; moto serves no traffic, so every drain here lasts its whole delay). `advance(seconds)` moves the drain clock
on, and `end_draining()` ends every drain, for tests that must see a drain finish.

And in Auto Scaling: moto has no CompleteLifecycleAction or RecordLifecycleActionHeartbeat. Here they check the
group's hook exists and that the action is still active (completed once: ValidationError "No active Lifecycle Action
found", as AWS answers), and record each completion and heartbeat; `lifecycle_actions()` reads the record.

And in ECS (DescribeServices without deploymentConfiguration; UpdateContainerInstancesState taking more than 10) and
Classic ELB (an Auto Scaling group's registration surviving DeregisterInstancesFromLoadBalancer): see _apply_ecs and
_apply_classic_elb.

And in STS: moto's AssumeRole hands out credentials for any role ARN, existing or not, whoever asks. AWS answers
AccessDenied ("is not authorized to perform: sts:AssumeRole") when the role does not exist or its trust policy does
not admit the caller. Here AssumeRole needs the role to exist in its account, with a trust policy whose Allow
statement names the caller's account (the account root, or a role or user of that account: moto's static test
credentials carry no role of their own, so a principal of the caller's account is the finest grain it can check).

And in EC2, the state reasons a handler reads to tell EC2 interrupting a Spot instance from a user's stop: see
_apply_ec2_state_reasons, and `interrupt`, `complete_interruption` and `resume`, which play EC2 interrupting a Spot
instance and resuming it (moto has no way to do either).

`apply()` patches moto in this process; the local cloud (local/cloud.py), the bench's server and the test suite
call it. Everything else is moto as released.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

_APPLIED = False
_drain_offset = 0.0  # seconds added to the wall clock by advance()
_drain_lock = threading.Lock()


def drain_clock() -> float:
    return time.time() + _drain_offset


def advance(seconds: float) -> None:
    """Move the drain clock on: drains whose delay has passed by then are over."""
    global _drain_offset
    with _drain_lock:
        _drain_offset += seconds


def drain_seconds(delay: float) -> float:
    """How long a registration drains once deregistered: its whole delay (nothing ends a drain early in moto, which
    serves no traffic). The bench replaces this to model in-flight requests that finish sooner (AWS then ends the
    drain early)."""
    return delay


def end_draining() -> None:
    advance(7200)  # longer than any deregistration delay (3600 s at most)


def _key(target: dict[str, Any], default_port: int | None) -> tuple[str, int | None]:
    return (target["Id"], int(target["Port"]) if target.get("Port") is not None else default_port)


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    from moto.elbv2 import models
    from moto.elbv2.exceptions import TargetNotRunning

    group = models.FakeTargetGroup

    def register(self, targets):
        for target in targets:
            if instance := self.ec2_backend.get_instance_by_id(target["Id"]):
                if instance.state != "running":
                    raise TargetNotRunning(instance_id=target["Id"])
            key = _key(target, self.port)
            self.targets[key] = {"Id": target["Id"], "Port": key[1]}
            self.deregistered_targets.pop(key, None)
            _draining(self).pop(key, None)

    def deregister(self, targets):
        delay = float(self.attributes.get("deregistration_delay.timeout_seconds", 300))
        for target in targets:
            if target.get("Port") is None:
                keys = [k for k in self.targets if k[0] == target["Id"]]
            else:
                keys = [_key(target, self.port)]
            for key in keys:
                removed = self.targets.pop(key, None)
                if removed is not None:
                    self.deregistered_targets[key] = removed
                    _draining(self)[key] = (removed, drain_clock() + drain_seconds(delay))  # a global: replaceable

    def deregister_terminated_instances(self, instance_ids):
        for key in list(self.targets):
            if key[0] in instance_ids:
                self.terminated_targets[key] = self.targets.pop(key)

    def health_for(self, target, ec2_backend):
        key = _key(target, self.port)
        if key in _still_draining(self) or (key not in self.targets and key in self.terminated_targets):
            return models.FakeHealthStatus(
                key[0],
                key[1],
                self.health_check_port,
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
            )
        if key in self.targets:
            state = "healthy"
            if key[0].startswith("i-"):
                instance = ec2_backend.get_instance_by_id(key[0])
                if instance is not None and instance.state == "stopped":
                    return models.FakeHealthStatus(
                        key[0],
                        key[1],
                        self.health_check_port,
                        "unused",
                        "Target.InvalidState",
                        "Target is in the stopped state",
                    )
            return models.FakeHealthStatus(key[0], key[1], self.health_check_port, state)
        return models.FakeHealthStatus(
            key[0],
            key[1],
            self.health_check_port,
            "unused",
            "Target.NotRegistered",
            "Target is not registered to the target group",
        )

    backend_class = models.ELBv2Backend
    original_describe_target_health = backend_class.describe_target_health

    def describe_target_health(self, target_group_arn, targets):
        if not targets and target_group_arn in self.target_groups:  # every registration, draining ones too
            group = self.target_groups[target_group_arn]
            listed = list(group.targets.values()) + [t for t, _ in _still_draining(group).values()]
            return [group.health_for(target, self.ec2_backend) for target in listed]
        return original_describe_target_health(self, target_group_arn, targets)

    backend_class.describe_target_health = describe_target_health
    group.register = register
    group.deregister = deregister
    group.deregister_terminated_instances = deregister_terminated_instances
    group.health_for = health_for
    _apply_autoscaling_lifecycle_actions()
    _apply_dynamodb_table_sse()
    _apply_dynamodb_transaction_snapshots()
    _apply_dynamodb_write_isolation()
    _apply_ecs()
    _apply_classic_elb()
    _apply_sts_trust()
    _apply_ec2_state_reasons()
    _APPLIED = True


def _draining(group) -> dict:
    """(target, until) of each registration deregistered from the group, by (id, port)."""
    if not hasattr(group, "draining_until"):
        group.draining_until = {}
    return group.draining_until


def _still_draining(group) -> dict:
    now = drain_clock()
    return {key: entry for key, entry in _draining(group).items() if entry[1] > now}


def lifecycle_actions(account_id: str = "123456789012", region: str = "us-east-1") -> dict[str, dict]:
    """Token -> {group, hook, instance, result, heartbeats} of every lifecycle action completed or kept alive."""
    from moto.autoscaling.models import autoscaling_backends

    return getattr(autoscaling_backends[account_id][region], "lifecycle_actions", {})


def _apply_autoscaling_lifecycle_actions() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    def action(response) -> dict:
        backend = response.autoscaling_backend
        group, hook = response._get_param("AutoScalingGroupName"), response._get_param("LifecycleHookName")
        token = response._get_param("LifecycleActionToken")
        if f"{group}_{hook}" not in backend.lifecycle_hooks:
            raise ValidationError(f"No Lifecycle Hook found with name {hook} for group {group}")
        actions = backend.__dict__.setdefault("lifecycle_actions", {})
        record = actions.setdefault(
            token,
            {"group": group, "hook": hook, "instance": response._get_param("InstanceId"), "heartbeats": 0},
        )
        if record.get("result"):
            raise ValidationError(f"No active Lifecycle Action found with token {token}")
        return record

    def complete_lifecycle_action(self):
        result = self._get_param("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError(f"LifecycleActionResult must be CONTINUE or ABANDON, not {result}")
        action(self)["result"] = result
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self):
        action(self)["heartbeats"] += 1
        return EmptyResult()

    # moto reports every hook's GlobalTimeout as 172,800 s; AWS makes it the smaller of that and 100 x the heartbeat
    # timeout (the hook's whole life, heartbeats included).
    from moto.autoscaling.models import LifecycleHook

    hook_init = LifecycleHook.__init__

    def init(self, *args, **kwargs):
        hook_init(self, *args, **kwargs)
        self.global_timeout = min(172_800, 100 * int(self.heartbeat_timeout))

    LifecycleHook.__init__ = init
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat


def _apply_sts_trust() -> None:
    import json
    from urllib.parse import unquote

    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse

    released = TokenResponse.assume_role

    def trusts(document: str, caller: str) -> bool:
        try:
            policy = json.loads(unquote(document) if document.lstrip().startswith("%") else document)
        except ValueError:
            return False
        statements = policy.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            principals = (statement.get("Principal") or {}).get("AWS", [])
            principals = principals if isinstance(principals, list) else [principals]
            if statement.get("Effect") == "Allow" and "sts:AssumeRole" in actions:
                if any(p == caller or p.split(":")[4:5] == [caller] for p in principals if isinstance(p, str)):
                    return True
        return False

    def assume_role(self):
        role_arn = self._get_param("RoleArn") or ""
        parts = role_arn.split(":")
        account, name = (parts[4], parts[5].rpartition("/")[2]) if len(parts) == 6 else ("", "")
        caller = self.current_account
        roles = iam_backends[account]["global"].roles.values() if account else []
        role = next((r for r in roles if r.name == name), None)
        if role is None or not trusts(role.assume_role_policy_document, caller):
            raise STSClientError(
                "AccessDenied",
                f"User: arn:aws:sts::{caller}:assumed-role/caller is not authorized to perform: sts:AssumeRole on "
                f"resource: {role_arn}",
            )
        return released(self)

    TokenResponse.assume_role = assume_role


def _apply_dynamodb_table_sse() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        sse = properties.get("SSESpecification")
        if sse and "SSEEnabled" in sse and "Enabled" not in sse:
            api_form = {"Enabled": sse["SSEEnabled"], **{k: v for k, v in sse.items() if k != "SSEEnabled"}}
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "SSESpecification": api_form}}
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Table.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _apply_dynamodb_write_isolation() -> None:
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def isolated(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item"):
        setattr(DynamoDBBackend, name, isolated(getattr(DynamoDBBackend, name)))


def _apply_dynamodb_transaction_snapshots() -> None:
    import copy
    import threading

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    class OneSnapshotPerTable:
        """Stands in for the `copy` module inside moto's DynamoDB models while one thread runs a transaction."""

        def __init__(self):
            self.owner = threading.get_ident()
            self.snapshots: dict[int, Table] = {}

        def deepcopy(self, obj, memo=None):
            if isinstance(obj, Table) and threading.get_ident() == self.owner:
                if id(obj) not in self.snapshots:
                    self.snapshots[id(obj)] = copy.deepcopy(obj)
                return self.snapshots[id(obj)]
            return copy.deepcopy(obj, memo)

        def __getattr__(self, name):
            return getattr(copy, name)

    def transact_write_items(self, transact_items):
        models.copy = OneSnapshotPerTable()  # the write-isolation lock (applied after this) is held here
        try:
            return original(self, transact_items)
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


def _apply_ecs() -> None:
    """ECS, where moto 5 differs from AWS in what this project reads or relies on:
    - DescribeServices leaves out a service's deploymentConfiguration; AWS returns it, with minimumHealthyPercent 100
      and maximumPercent 200 for a replica service created without one. The handler warns from it.
    - UpdateContainerInstancesState takes at most 10 container instances per call at AWS (the API reference);
      moto takes any number, which would hide a handler that forgets to split.
    ListContainerInstances' `filter` is still ignored (every container instance of the cluster is listed): the
    handler verifies each match itself, and the tests rely on moto's looseness to prove it.
    """
    from moto.ecs import models, responses
    from moto.ecs.exceptions import InvalidParameterException

    defaults = {"minimumHealthyPercent": 100, "maximumPercent": 200}
    models.Service.deployment_configuration = property(
        lambda self: {**defaults, **(getattr(self, "_deployment_configuration", None) or {})}
    )
    original_create = responses.EC2ContainerServiceResponse.create_service

    def create_service(self):
        result = original_create(self)
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        service._deployment_configuration = self._get_param("deploymentConfiguration") or {}
        return result

    responses.EC2ContainerServiceResponse.create_service = create_service
    original_update = models.EC2ContainerServiceBackend.update_container_instances_state

    def update_container_instances_state(self, cluster_str, list_container_instance_ids, status):
        if len(list_container_instance_ids) > 10:
            raise InvalidParameterException("containerInstances can have at most 10 items.")
        return original_update(self, cluster_str, list_container_instance_ids, status)

    models.EC2ContainerServiceBackend.update_container_instances_state = update_container_instances_state


CLASSIC_DRAINING = "Instance deregistration currently in progress."
CLASSIC_NOT_REGISTERED = "Instance is not currently registered with the LoadBalancer."


def _apply_classic_elb() -> None:
    """Classic ELB, where moto 5 differs from AWS:
    - an instance an Auto Scaling group registered leaves the load balancer when DeregisterInstancesFromLoadBalancer
      names it, as any registered instance does at AWS. moto keeps the group's registrations in a list of their own
      that the API call never touches, so the instance stayed InService;
    - connection draining: AWS reports a deregistered instance as `InService`, "Instance deregistration currently in
      progress.", until its in-flight requests are done or the draining timeout ends, then `OutOfService`, "Instance is
      not currently registered with the LoadBalancer." (the user guide, "Configure connection draining"). moto drops it
      at once and answers "Unknown" for an instance not registered. Here it drains for the timeout in force when it was
      deregistered, on the same drain clock as target groups (`advance`, `end_draining`).
    """
    from moto.elb.models import ELBBackend
    from moto.elb.responses import ELBResponse

    original = ELBBackend.deregister_instances

    def deregister_instances(self, load_balancer_name, instance_ids, from_autoscaling=False):
        instance_ids = list(instance_ids)
        balancer = self.get_load_balancer(load_balancer_name)
        registered = set(balancer.instance_ids) if balancer is not None else set()
        load_balancer = original(self, load_balancer_name, instance_ids, from_autoscaling)
        if not from_autoscaling:
            load_balancer = original(self, load_balancer_name, instance_ids, True)
        draining = (balancer.attributes.get("connection_draining") or {}) if balancer is not None else {}
        # moto keeps the request's spelling ("Enabled", "Timeout") and adds its own default "timeout": 300 beside it
        enabled = draining.get("Enabled", draining.get("enabled"))
        timeout = draining.get("Timeout", draining.get("timeout"))
        if str(enabled).lower() == "true":
            until = drain_clock() + float(timeout or 300)
            for instance_id in instance_ids:
                if instance_id in registered:
                    _classic_draining(balancer)[instance_id] = until
        return load_balancer

    def describe_instance_health(self):
        name = self._get_param("LoadBalancerName")
        asked = [i["InstanceId"] for i in self._get_param("Instances", [])]
        balancer = self.elb_backend.get_load_balancer(name)
        if balancer is None:
            return original_health(self)
        draining = {i for i, until in _classic_draining(balancer).items() if until > drain_clock()}
        states = []
        for instance_id in asked or list(balancer.instance_ids):
            if instance_id in balancer.instance_ids:
                state, description = "InService", "N/A"
            elif instance_id in draining:
                state, description = "InService", CLASSIC_DRAINING
            else:
                state, description = "OutOfService", CLASSIC_NOT_REGISTERED
            states.append({"InstanceId": instance_id, "State": state, "ReasonCode": "N/A", "Description": description})
        from moto.core.responses import ActionResult

        return ActionResult({"InstanceStates": states})

    original_health = ELBResponse.describe_instance_health
    ELBBackend.deregister_instances = deregister_instances
    ELBResponse.describe_instance_health = describe_instance_health


def _classic_draining(balancer) -> dict:
    """Instance id -> when its connection draining ends, for the instances deregistered from the load balancer."""
    if not hasattr(balancer, "draining_until"):
        balancer.draining_until = {}
    return balancer.draining_until


# ---- EC2: state reasons, and EC2 interrupting a Spot instance ------------------------------------------------------

USER_SHUTDOWN = "Client.UserInitiatedShutdown"
SPOT_TERMINATION = "Server.SpotInstanceTermination"
SPOT_SHUTDOWN = "Server.SpotInstanceShutdown"


class _Interruption(NamedTuple):
    """What EC2 does to a Spot instance for one interruption behaviour: the state (name, code) it passes through,
    the state it ends in, and the state reason it leaves."""

    passing: tuple[str, int]
    ends: str
    code: str
    description: str


# Hibernation ends `stopped` too, with the same code: AWS documents no reason of its own for a hibernated Spot
# instance (Client.UserInitiatedHibernate is a user's StopInstances with Hibernate).
INTERRUPTIONS = {
    "terminate": _Interruption(("shutting-down", 32), "terminated", SPOT_TERMINATION, "Spot instance termination"),
    "stop": _Interruption(("stopping", 64), "stopped", SPOT_SHUTDOWN, "Spot instance shutdown"),
    "hibernate": _Interruption(("stopping", 64), "stopped", SPOT_SHUTDOWN, "Spot instance shutdown"),
}


def _gmt(moment: datetime) -> str:
    """A StateTransitionReason's time, as EC2 writes it: "2026-11-26 10:00:00 GMT"."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} GMT"


def _apply_ec2_state_reasons() -> None:
    """EC2, where moto 5 differs from AWS in the state reasons of a stopped or terminated instance:
    - StopInstances and TerminateInstances leave the StateReason AWS leaves (Client.UserInitiatedShutdown,
      "Client.UserInitiatedShutdown: User initiated shutdown") but a StateTransitionReason "User initiated
      (2026-11-26 10:00:00 UTC)"; EC2 writes GMT, and code that parses the time from it must meet EC2's form.
    - DescribeInstances refuses the filter `instance-lifecycle` (NotImplementedError, a 500): the one that selects Spot
      instances. `instance-state-name` and `state-reason-code` work as released.
    - An instance an Auto Scaling group launches from a launch template asking for the Spot market
      (InstanceMarketOptions MarketType spot) is On-Demand in moto (no InstanceLifecycle); at AWS it is a Spot instance.

    AWS facts:
    - EC2 API reference, StateReason (API_StateReason): `Client.UserInitiatedShutdown` "The instance was shut down
      using the Amazon EC2 API"; `Server.SpotInstanceTermination` / `Server.SpotInstanceShutdown`: the instance was
      terminated / stopped by a Spot interruption; `Client.UserInitiatedHibernate` "Hibernation was initiated on the
      instance".
    - EC2 user guide, "Find interrupted Spot Instances" (finding-an-interrupted-Spot-Instance): a Spot instance's
      lifecycle is `spot`; an interrupted one is `stopped` or `terminated` after its interruption behaviour, a
      hibernated one `stopped`; the codes Server.SpotInstanceShutdown and Server.SpotInstanceTermination say EC2
      interrupted it; found with DescribeInstances filters instance-lifecycle=spot and instance-state-name.
    - EC2 user guide, "State change events" (monitoring-instance-state-changes): stopping an instance passes through
      `stopping`, terminating it through `shutting-down`, each with its own EC2 Instance State-change Notification.
    - DescribeInstances API reference (botocore's model of it), filter `reason`: the StateTransitionReason "shows
      'User Initiated [date]' when you stop or terminate the instance"; filter `instance-lifecycle`: spot | scheduled |
      capacity-block.
    - Not in AWS's documentation, taken from DescribeInstances answers captured in public repositories: the date is
      written "(2018-06-26 07:19:42 GMT)"; the Message is "<Code>: <a few words>" ("Client.UserInitiatedShutdown: User
      initiated shutdown" for stopped and terminated instances alike, "Server.SpotInstanceTermination: Spot instance
      termination"); a change EC2 made itself reads "Service initiated (... GMT)". The words after a Spot code are the
      least certain (Server.SpotInstanceShutdown's are by analogy): match on StateReason.Code, never on the Message.
    """
    from moto.ec2 import utils
    from moto.ec2.models.instances import Instance, InstanceBackend

    utils.filter_dict_attribute_mapping.setdefault("instance-lifecycle", "lifecycle")

    def user_initiated(method):
        def wrapper(self):
            previous = method(self)
            self._reason = f"User initiated ({_gmt(datetime.now(UTC))})"
            return previous

        return wrapper

    Instance.stop = user_initiated(Instance.stop)
    Instance.terminate = user_initiated(Instance.terminate)
    released_run_instances = InstanceBackend.run_instances

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        reservation = released_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
        if kwargs.get("launch_template") and not kwargs.get("instance_market_options"):
            data = self._get_template_from_args(kwargs["launch_template"]).data
            if (data.get("InstanceMarketOptions") or {}).get("MarketType") == "spot":
                for instance in reservation.instances:
                    instance.lifecycle = "spot"
        return reservation

    InstanceBackend.run_instances = run_instances


def _instance(account_id: str, region: str, instance_id: str):
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region].get_instance(instance_id)  # InvalidInstanceID.NotFound when absent


def _set_reason(instance, interruption: _Interruption, at: datetime) -> None:
    from moto.ec2.models.instances import StateReason

    instance.state_reason = StateReason(f"{interruption.code}: {interruption.description}", interruption.code)
    instance._reason = f"Service initiated ({_gmt(at)})"


def interrupt(
    account_id: str, region: str, instance_id: str, action: str, complete: bool = True, at: datetime | None = None
) -> None:
    """EC2 interrupting a Spot instance with the interruption behaviour `action` (terminate, stop or hibernate): it
    moves to `shutting-down` or `stopping` with the Spot state reason, and, when `complete`, on to `terminated` or
    `stopped` (else `complete_interruption` does it, so a test can read DescribeInstances in between). `at`: when EC2
    began (the StateTransitionReason's time), now by default."""
    if action not in INTERRUPTIONS:
        raise ValueError(f"interruption behaviour {action!r}: terminate, stop or hibernate")
    instance = _instance(account_id, region, instance_id)
    if instance.lifecycle != "spot":
        raise ValueError(f"{instance_id} is not a Spot instance: EC2 interrupts only Spot instances")
    if instance.state != "running":
        raise ValueError(f"{instance_id} is {instance.state}: EC2 interrupts a running Spot instance")
    interruption = INTERRUPTIONS[action]
    instance._state.name, instance._state.code = interruption.passing
    instance.spot_interruption = (interruption, at or datetime.now(UTC))
    _set_reason(instance, *instance.spot_interruption)
    if complete:
        complete_interruption(account_id, region, instance_id)


def complete_interruption(account_id: str, region: str, instance_id: str) -> None:
    """The interruption `interrupt` began ends: `terminated` (what TerminateInstances does to the instance, Auto
    Scaling and ELB included: its group replaces it, its instance targets leave their target groups; ip targets stay,
    as at AWS) or `stopped`; the Spot state reason stays."""
    instance = _instance(account_id, region, instance_id)
    interruption, at = getattr(instance, "spot_interruption", (None, None))
    if interruption is None or instance.state != interruption.passing[0]:
        raise ValueError(f"{instance_id} is {instance.state}, not being interrupted")
    if interruption.ends == "terminated":
        from moto.autoscaling.models import autoscaling_backends
        from moto.elbv2.models import elbv2_backends

        instance.terminate()
        autoscaling_backends[account_id][region].notify_terminate_instances([instance_id])
        elbv2_backends[account_id][region].notify_terminate_instances([instance_id])
    else:
        instance.stop()
    _set_reason(instance, interruption, at)


def resume(account_id: str, region: str, instance_id: str) -> None:
    """EC2 starting again a Spot instance it stopped or hibernated (capacity came back): `running`, its state reasons
    cleared as StartInstances clears them."""
    instance = _instance(account_id, region, instance_id)
    if instance.state != "stopped" or instance.state_reason.code != SPOT_SHUTDOWN:
        raise ValueError(
            f"{instance_id} is {instance.state} ({instance.state_reason.code or 'no reason'}): EC2 "
            "resumes only a Spot instance it stopped"
        )
    instance.start()
    instance.spot_interruption = (None, None)


def scale_in(account_id: str, region: str, instance_id: str) -> None:
    """Auto Scaling terminating a group's instance and waiting on a terminate lifecycle hook (`Terminating:Wait`), as
    a scale-in does: moto's TerminateInstanceInAutoScalingGroup ends the instance at once, with no such state."""
    from moto.autoscaling.models import autoscaling_backends

    for group in autoscaling_backends[account_id][region].autoscaling_groups.values():
        for state in group.instance_states:
            if state.instance.id == instance_id:
                state.lifecycle_state = "Terminating:Wait"
                return
    raise ValueError(f"{instance_id} is in no Auto Scaling group")
