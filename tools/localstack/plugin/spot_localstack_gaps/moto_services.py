"""ELBv2, Auto Scaling, ECS and Classic ELB for LocalStack's community edition, served by the moto it bundles.

Gap: LocalStack 4.14's community edition answers every call of these services with "not included in your current
license plan". The handler drains target groups (ELBv2), discovers an Auto Scaling group's target groups and
completes its lifecycle actions, and looks for ECS container instances and Classic Load Balancers of the instance
(its ECS step otherwise reports "clusters not listed" and the outcome turns partial).
moto's backends live in LocalStack's process, so these share its EC2 instances.

Gap: moto (the moto-ext LocalStack bundles too) has no CompleteLifecycleAction or RecordLifecycleActionHeartbeat, and
reports every hook's GlobalTimeout as 172,800 s. Filled by the patch the moto-based tests use,
local/moto_fidelity.py's `_apply_autoscaling_lifecycle_actions` (one implementation), applied to this process's moto.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from localstack.aws.skeleton import Skeleton
from localstack.aws.spec import load_service
from localstack.services.plugins import Service, aws_provider


def _moto_service(name: str) -> Service:
    """Every operation of the service goes to moto as is (LocalStack has no provider of its own for it)."""
    from localstack.services.moto import _proxy_moto

    model = load_service(name)
    dispatch_table = dict.fromkeys(model.operation_names, _proxy_moto)
    return Service(name=name, skeleton=Skeleton(model, dispatch_table))


@aws_provider(api="elbv2")
def elbv2() -> Service:
    return _moto_service("elbv2")


def _apply_lifecycle_actions() -> None:
    """local/moto_fidelity.py of this checkout, loaded by its path (it imports only the standard library and moto)."""
    path = Path(__file__).resolve().parents[4] / "local" / "moto_fidelity.py"
    spec = importlib.util.spec_from_file_location("spot_moto_fidelity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._apply_autoscaling_lifecycle_actions()


@aws_provider(api="autoscaling")
def autoscaling() -> Service:
    _apply_lifecycle_actions()  # before the first Auto Scaling request reaches moto
    return _moto_service("autoscaling")


@aws_provider(api="ecs")
def ecs() -> Service:
    return _moto_service("ecs")


@aws_provider(api="elb")
def elb() -> Service:
    return _moto_service("elb")
