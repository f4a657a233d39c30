"""Amazon ECS: find the container instances of interrupted EC2 instances and set them to DRAINING."""

from __future__ import annotations

import threading
import time
import weakref
from typing import NamedTuple

# The account's clusters change rarely and a mass reclaim looks them up in batch after batch: each execution
# environment (one client each) remembers the list for a few minutes. A cluster created since is found once the
# entry expires; an instance tagged with its cluster never depends on this list.
CLUSTER_LIST_CACHE_SECONDS = 300.0
_known_clusters: weakref.WeakKeyDictionary[object, tuple[list[str], float]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()

UPDATE_STATE_MAX = 10  # UpdateContainerInstancesState: at most 10 container instances per call
DESCRIBE_MAX = 100  # DescribeContainerInstances and DescribeTasks: at most 100 per call
DESCRIBE_SERVICES_MAX = 10  # DescribeServices: at most 10 services per call
LIST_PAGE = 100  # ListContainerInstances / ListTasks: at most 100 per page
# Instance ids per cluster query language filter: ListContainerInstances documents no length limit for it, so each
# expression stays within the 2,000 characters documented for a placement constraint's expression, the same
# language (80 ids of 19 characters, quoted and separated: about 1,850 characters).
FILTER_IDS_MAX = 80


class ContainerInstance(NamedTuple):
    arn: str
    cluster: str  # the cluster's name
    ec2_instance_id: str
    status: str  # ACTIVE, DRAINING, REGISTERING, DEREGISTERING, ...
    running_tasks: int
    pending_tasks: int


class ServiceFacts(NamedTuple):
    name: str
    minimum_healthy_percent: int | None
    maximum_percent: int | None


def cluster_name(cluster: str) -> str:
    """The name in a cluster name or ARN (arn:aws:ecs:region:account:cluster/NAME)."""
    return cluster.rsplit("/", 1)[-1] if cluster.startswith("arn:") else cluster


def list_clusters(ecs) -> list[str]:
    """Every cluster ARN of the account in the region (all pages), remembered per execution environment."""
    with _lock:
        known = _known_clusters.get(ecs)
    if known is not None and known[1] > time.monotonic():
        return known[0]
    arns = [arn for page in ecs.get_paginator("list_clusters").paginate() for arn in page.get("clusterArns", [])]
    with _lock:
        _known_clusters[ecs] = (arns, time.monotonic() + CLUSTER_LIST_CACHE_SECONDS)
    return arns


def container_instances_of(ecs, cluster: str, instance_ids: list[str]) -> dict[str, ContainerInstance]:
    """The container instances of `cluster` that run on the given EC2 instances, keyed by EC2 instance id.

    ListContainerInstances with an `ec2InstanceId in [...]` filter finds candidates (all pages); every candidate is
    then described and kept only if its own ec2InstanceId is one of ours. A filter that is ignored or misread (moto
    ignores it) would otherwise drain another team's instance.
    """
    wanted = set(instance_ids)
    ids = sorted(wanted)
    arns: list[str] = []
    for start in range(0, len(ids), FILTER_IDS_MAX):
        expression = "ec2InstanceId in [" + ", ".join(f"'{i}'" for i in ids[start : start + FILTER_IDS_MAX]) + "]"
        paginator = ecs.get_paginator("list_container_instances")
        for page in paginator.paginate(cluster=cluster, filter=expression, PaginationConfig={"PageSize": LIST_PAGE}):
            arns += [arn for arn in page.get("containerInstanceArns", []) if arn not in arns]
    found: dict[str, ContainerInstance] = {}
    for described in describe_container_instances(ecs, cluster, arns):
        if described.ec2_instance_id in wanted:
            found[described.ec2_instance_id] = described
    return found


def describe_container_instances(ecs, cluster: str, arns: list[str]) -> list[ContainerInstance]:
    described = []
    for start in range(0, len(arns), DESCRIBE_MAX):
        chunk = arns[start : start + DESCRIBE_MAX]
        response = ecs.describe_container_instances(cluster=cluster, containerInstances=chunk)
        for item in response.get("containerInstances", []):
            described.append(
                ContainerInstance(
                    arn=item["containerInstanceArn"],
                    cluster=cluster_name(cluster),
                    ec2_instance_id=item.get("ec2InstanceId", ""),
                    status=item.get("status", "UNKNOWN"),
                    running_tasks=int(item.get("runningTasksCount", 0)),
                    pending_tasks=int(item.get("pendingTasksCount", 0)),
                )
            )
    return described


def set_draining(ecs, cluster: str, arns: list[str]) -> dict[str, str]:
    """UpdateContainerInstancesState to DRAINING, 10 per call; {container instance ARN: why it failed}.

    The answer lists failures per container instance (with a reason such as MISSING); those are returned, the
    others are DRAINING. A call that fails as a whole raises.
    """
    failed: dict[str, str] = {}
    for start in range(0, len(arns), UPDATE_STATE_MAX):
        chunk = arns[start : start + UPDATE_STATE_MAX]
        response = ecs.update_container_instances_state(cluster=cluster, containerInstances=chunk, status="DRAINING")
        for failure in response.get("failures", []):
            arn = failure.get("arn", "")
            match = next((a for a in chunk if a == arn or a.endswith("/" + arn.rsplit("/", 1)[-1])), arn)
            failed[match] = " ".join(filter(None, [failure.get("reason"), failure.get("detail")])) or "failed"
    return failed


def task_counts(ecs, clusters: list[str]) -> dict[str, int]:
    """Running plus pending tasks of each cluster (one DescribeClusters for up to 100), keyed by cluster name."""
    counts: dict[str, int] = {}
    for start in range(0, len(clusters), DESCRIBE_MAX):
        response = ecs.describe_clusters(clusters=clusters[start : start + DESCRIBE_MAX])
        for cluster in response.get("clusters", []):
            counts[cluster["clusterName"]] = int(cluster.get("runningTasksCount", 0)) + int(
                cluster.get("pendingTasksCount", 0)
            )
    return counts


def task_arns(ecs, cluster: str, container_instance: str | None = None) -> list[str]:
    """ARNs of the tasks the scheduler wants running (all pages), on one container instance or in the cluster."""
    kwargs = {"cluster": cluster, "PaginationConfig": {"PageSize": LIST_PAGE}}
    if container_instance:
        kwargs["containerInstance"] = container_instance
    paginator = ecs.get_paginator("list_tasks")
    return [arn for page in paginator.paginate(**kwargs) for arn in page.get("taskArns", [])]


def task_groups(ecs, cluster: str, arns: list[str]) -> list[tuple[str, str]]:
    """(container instance ARN, group) of each task: the group of a service's task is "service:NAME"."""
    found = []
    for start in range(0, len(arns), DESCRIBE_MAX):
        response = ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + DESCRIBE_MAX])
        for task in response.get("tasks", []):
            if task.get("lastStatus") == "STOPPED":  # stopped (ListTasks may list one on its way out): not on it
                continue
            found.append((task.get("containerInstanceArn") or "", task.get("group") or ""))
    return found


def describe_services(ecs, cluster: str, names: list[str]) -> dict[str, ServiceFacts]:
    """Deployment configuration of each service (10 per DescribeServices), keyed by service name."""
    found: dict[str, ServiceFacts] = {}
    for start in range(0, len(names), DESCRIBE_SERVICES_MAX):
        response = ecs.describe_services(cluster=cluster, services=names[start : start + DESCRIBE_SERVICES_MAX])
        for service in response.get("services", []):
            config = service.get("deploymentConfiguration") or {}
            found[service["serviceName"]] = ServiceFacts(
                service["serviceName"], config.get("minimumHealthyPercent"), config.get("maximumPercent")
            )
    return found


def tasks_on(ecs, cluster: str, container_instance_arns: list[str]) -> dict[str, ContainerInstance]:
    """The container instances as they are now (running and pending tasks, status), keyed by ARN: one
    DescribeContainerInstances per 100. A container instance that no longer exists is absent."""
    return {ci.arn: ci for ci in describe_container_instances(ecs, cluster, container_instance_arns)}


def set_active(ecs, cluster: str, arns: list[str]) -> dict[str, str]:
    """UpdateContainerInstancesState to ACTIVE, 10 per call: container instances a drain set to DRAINING, back to
    taking tasks; {container instance ARN: why it failed}."""
    failed: dict[str, str] = {}
    for start in range(0, len(arns), UPDATE_STATE_MAX):
        chunk = arns[start : start + UPDATE_STATE_MAX]
        response = ecs.update_container_instances_state(cluster=cluster, containerInstances=chunk, status="ACTIVE")
        for failure in response.get("failures", []):
            arn = failure.get("arn", "")
            failed[arn] = " ".join(filter(None, [failure.get("reason"), failure.get("detail")])) or "failed"
    return failed
