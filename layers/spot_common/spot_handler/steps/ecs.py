"""Drain step: set the instance's ECS container instance to DRAINING, so the service scheduler places its tasks
elsewhere (and takes them out of their target groups) instead of losing them with the instance.

The cluster comes from the instance's cluster tag; without one, and with discovery on, every cluster of the account
in the region is searched for the batch's instances. Per cluster and batch: ListContainerInstances (filtered to the
batch's instances), DescribeContainerInstances (to verify each match), UpdateContainerInstancesState for up to 10
ACTIVE ones a call. Then, for the alert only, the services with tasks on them and their deployment configuration.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from spot_handler.aws import ecs
from spot_handler.aws.clients import AWS_ERRORS, describe_error, error_code, is_permanent
from spot_handler.budget import DidNotFinish
from spot_handler.models import InstanceFacts, InterruptionNotice
from spot_handler.planning import Attached, InstancePlan, StepPlan
from spot_handler.settings import Settings, variable
from spot_handler.steps import StepContext, StepReport
from spot_handler.wording import listing, plural

logger = Logger(child=True)
MAX_PARALLEL_CLUSTERS = 8
SERVICE_GROUP = "service:"  # a service's tasks carry the group "service:NAME"; standalone ones "family:..." or others
# An ECS cluster by name (up to 255 letters, digits, hyphens, underscores) or by ARN.
ECS_CLUSTER = re.compile(r"(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/)?[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
class EcsSettings:
    tag_key: str = variable("ECS_CLUSTER_TAG_KEY", "ECSCluster")
    discover_clusters: bool = variable("DISCOVER_ECS_CLUSTERS", True)  # untagged instances: search every cluster


@dataclass(frozen=True)
class EcsPlan(StepPlan):
    cluster: str | None = None  # from the instance's cluster tag (name or ARN); None: discover, if enabled


NOTHING_PLANNED = EcsPlan()


@dataclass
class ServiceOnInstance:
    name: str
    tasks: int
    minimum_healthy_percent: int | None = None

    @property
    def may_not_move_in_time(self) -> bool:
        # At 100% the scheduler keeps the old task until its replacement is healthy, which can outlast two minutes.
        return self.minimum_healthy_percent is not None and self.minimum_healthy_percent >= 100


@dataclass
class ContainerInstanceDrain:
    """Outcome of draining one EC2 instance's ECS container instance."""

    cluster: str
    container_instance_arn: str | None = None
    status_before: str | None = None
    draining: bool = False  # set to DRAINING by this call
    services: list[ServiceOnInstance] = field(default_factory=list)
    standalone_tasks: int = 0  # tasks no service owns: draining does not move them
    tasks_note: str | None = None  # why the services are not listed, when they could not be read
    error: str | None = None
    retryable: bool = True  # an error that may pass if tried again (not "not a container instance here")

    @property
    def done(self) -> bool:
        """Out of task placement: set to DRAINING now, or already not ACTIVE (draining, or gone)."""
        return self.error is None and (self.draining or (self.status_before not in (None, "ACTIVE")))


class EcsContainerInstancesStep:
    name = "ECS"
    key = "ecs"
    settings = EcsSettings

    def plan(
        self, instance: InstanceFacts, notice: InterruptionNotice, attached: Attached, settings: Settings
    ) -> EcsPlan:
        cluster = instance.tags.get(settings.step(EcsSettings).tag_key, "").strip()
        if cluster and not ECS_CLUSTER.fullmatch(cluster):
            return EcsPlan(problems=(f"tag value {cluster!r} is not an ECS cluster name or ARN",))
        return EcsPlan(cluster=cluster or None)

    def applies(self, plan: InstancePlan) -> bool:
        return plan.drain and plan.instance is not None  # whether to search for it is the settings' call (run)

    def run(self, context: StepContext, plans: list[InstancePlan], earlier) -> dict[str, StepReport]:
        drains, sent_at = drain_container_instances(context, plans)
        return {instance_id: ecs_report(drain, sent_at) for instance_id, drain in drains.items()}


def planned(plan: InstancePlan) -> EcsPlan:
    """The ECS cluster planned for one instance (none: tagged with none, not found, or its notice ignored)."""
    return plan.by_step.get(EcsContainerInstancesStep.key, NOTHING_PLANNED)


def drain_container_instances(context: StepContext, plans: list[InstancePlan]):
    """({instance id: ContainerInstanceDrain} for every instance that is (or is tagged as) a container instance,
    or whose clusters could not be searched; when the first UpdateContainerInstancesState went out)."""
    client, budget = context.clients.ecs, context.budget
    searches: dict[str, set[str]] = {}  # cluster (name or ARN as given) -> instance ids to look for in it
    tagged: dict[str, str] = {}  # instance id -> its tagged cluster's name
    drains: dict[str, ContainerInstanceDrain] = {}
    for plan in plans:
        cluster = planned(plan).cluster
        if cluster:
            searches.setdefault(cluster, set()).add(plan.instance_id)
            tagged[plan.instance_id] = ecs.cluster_name(cluster)
    discover = context.settings.step(EcsSettings).discover_clusters
    untagged = {p.instance_id for p in plans if not planned(p).cluster} if discover else set()
    if untagged:
        try:
            for arn in budget.run("ListClusters", ecs.list_clusters, client):
                known = next((c for c in searches if ecs.cluster_name(c) == ecs.cluster_name(arn)), arn)
                searches.setdefault(known, set()).update(untagged)
        except (*AWS_ERRORS, DidNotFinish) as exc:
            for instance_id in untagged:
                drains[instance_id] = ContainerInstanceDrain("?", error=f"clusters not listed ({describe_error(exc)})")
    if not searches:
        return drains, None

    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CLUSTERS, len(searches)), thread_name_prefix="ecs")
    futures = {cluster: pool.submit(_drain_cluster, context, cluster, ids, tagged) for cluster, ids in searches.items()}
    pool.shutdown(wait=False)  # never block on a hanging cluster: the budget decides how long to wait
    first_sent = None
    for cluster, future in futures.items():
        name = ecs.cluster_name(cluster)
        try:
            found, sent_at = budget.wait(future, "UpdateContainerInstancesState")
        except DidNotFinish as exc:
            found = {i: ContainerInstanceDrain(name, error=f"not confirmed: {exc}") for i in searches[cluster]}
            sent_at = None
        for instance_id, drain in found.items():
            # A container instance found in one cluster outranks "not found" or a search error in another.
            if instance_id not in drains or drains[instance_id].container_instance_arn is None:
                drains[instance_id] = drain
        if sent_at is not None:
            first_sent = min(first_sent or sent_at, sent_at)
    return drains, first_sent


def _drain_cluster(context: StepContext, cluster: str, ids: set[str], tagged: dict[str, str]):
    client, name = context.clients.ecs, ecs.cluster_name(cluster)
    mine = {i for i in ids if tagged.get(i) == name}  # instances whose tag names this cluster: any problem is theirs
    try:
        found = ecs.container_instances_of(client, cluster, sorted(ids))
    except AWS_ERRORS as exc:
        if mine or error_code(exc) not in ("ClusterNotFoundException", "AccessDeniedException"):
            # A discovered cluster that vanished, or that the role may not read (the cluster pattern), is skipped.
            reason = describe_error(exc)
            drains = {
                i: ContainerInstanceDrain(name, error=reason, retryable=not is_permanent(reason)) for i in (mine or ids)
            }
            return drains, None
        logger.info("ECS cluster skipped", extra={"cluster": name, "error": describe_error(exc)})
        return {}, None
    drains = {
        i: ContainerInstanceDrain(name, error="not a container instance of this cluster", retryable=False) for i in mine
    }
    for instance_id, instance in found.items():
        drains[instance_id] = ContainerInstanceDrain(name, instance.arn, instance.status)
    active = [found[i].arn for i in found if found[i].status == "ACTIVE"]
    sent_at = None
    if active:
        sent_at = context.clock()
        try:
            failed = ecs.set_draining(client, cluster, active)
        except AWS_ERRORS as exc:
            failed = dict.fromkeys(active, describe_error(exc))
        for instance_id, instance in found.items():
            if instance.status == "ACTIVE":
                drains[instance_id].draining = instance.arn not in failed
                drains[instance_id].error = failed.get(instance.arn)
    _read_services(client, cluster, [found[i] for i in found], drains)
    return drains, sent_at


def _read_services(client, cluster: str, instances: list[ecs.ContainerInstance], drains) -> None:
    """The services with tasks on each container instance, for the alert; failures here are notes, not drain
    failures: the instances are draining either way."""
    busy = [ci for ci in instances if ci.running_tasks + ci.pending_tasks > 0]
    if not busy:
        return
    by_arn = {ci.arn: ci.ec2_instance_id for ci in busy}
    try:
        # Whichever costs fewer calls: ListTasks per container instance, or once for the whole cluster.
        own_tasks = sum(ci.running_tasks + ci.pending_tasks for ci in busy)
        per_instance = len(busy) + math.ceil(own_tasks / ecs.DESCRIBE_MAX)
        cluster_tasks = ecs.task_counts(client, [cluster]).get(ecs.cluster_name(cluster), 0)
        if 2 * math.ceil(cluster_tasks / ecs.LIST_PAGE) < per_instance:
            arns = ecs.task_arns(client, cluster)
        else:
            arns = [arn for ci in busy for arn in ecs.task_arns(client, cluster, ci.arn)]
        per_service: dict[str, Counter] = {}
        for container_instance, group in ecs.task_groups(client, cluster, arns):
            instance_id = by_arn.get(container_instance)
            if instance_id is None:
                continue
            if group.startswith(SERVICE_GROUP):
                per_service.setdefault(instance_id, Counter())[group[len(SERVICE_GROUP) :]] += 1
            else:
                drains[instance_id].standalone_tasks += 1
        names = sorted({service for counts in per_service.values() for service in counts})
        facts = ecs.describe_services(client, cluster, names) if names else {}
    except AWS_ERRORS as exc:
        for instance_id in by_arn.values():
            drains[instance_id].tasks_note = f"services not read ({describe_error(exc)})"
        return
    for instance_id, counts in per_service.items():
        drains[instance_id].services = [
            ServiceOnInstance(name, count, facts[name].minimum_healthy_percent if name in facts else None)
            for name, count in sorted(counts.items())
        ]


def ecs_report(drain: ContainerInstanceDrain, sent_at=None) -> StepReport:
    failures = [f"ECS cluster {drain.cluster}: {drain.error}"] if drain.error else []
    return StepReport(
        step=EcsContainerInstancesStep.name,
        key=EcsContainerInstancesStep.key,
        render=lambda listed: (_lines(drain, listed), _document(drain, listed)),
        failures=failures,
        drain_attempts=1,
        drained=1 if drain.done else 0,
        sent_at=sent_at if drain.draining else None,
        data=drain,
        retry=failures if drain.error and not drain.done and drain.retryable else [],
    )


def _lines(drain: ContainerInstanceDrain, listed: int) -> list[str]:
    if drain.container_instance_arn is None:
        return [f"- cluster {drain.cluster}: FAILED: {drain.error}"]
    short = drain.container_instance_arn.rsplit("/", 1)[-1]
    lines = [f"- cluster {drain.cluster}, container instance {short}"]
    if drain.draining:
        lines.append("    set to DRAINING: its service tasks are being placed elsewhere")
    elif drain.error:
        lines.append(f"    FAILED: {drain.error}")
    else:
        lines.append(f"    already {drain.status_before}: nothing to do")
    if drain.services:
        shown = [f"{s.name} ({plural(s.tasks, 'task')})" for s in drain.services]
        lines.append("    services: " + listing(shown, listed))
    for service in drain.services[:listed]:
        if service.may_not_move_in_time:
            lines.append(
                f"    WARNING: {service.name} has minimum healthy percent {service.minimum_healthy_percent}: its "
                "tasks stay until their replacements are healthy and may not move within the two minutes"
            )
    if drain.standalone_tasks:
        lines.append(f"    {plural(drain.standalone_tasks, 'standalone task')}: not moved by draining")
    if drain.tasks_note:
        lines.append(f"    {drain.tasks_note}")
    return lines


def _document(drain: ContainerInstanceDrain, listed: int) -> dict:
    return {
        "cluster": drain.cluster,
        "containerInstanceArn": drain.container_instance_arn,
        "statusBefore": drain.status_before,
        "draining": drain.draining,
        "services": [
            {
                "name": s.name,
                "tasks": s.tasks,
                "minimumHealthyPercent": s.minimum_healthy_percent,
                "mayNotMoveInTime": s.may_not_move_in_time,
            }
            for s in drain.services
        ],
        "standaloneTasks": drain.standalone_tasks,
        "tasksNote": drain.tasks_note,
        "error": drain.error,
    }
