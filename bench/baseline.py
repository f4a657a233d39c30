"""BASELINE, not our design: a per-notice handler in the manner of the original AWS blog sample.

Written here from the sample's description, for comparison only: EventBridge invokes one function per notice; the
function reads the instance's tags (DescribeInstances), deregisters it from the one target group named by its
`loadBalancerTargetGroup` tag, publishes one SNS message, and swallows any error (the sample's bare `except`: no
retry, no alarm). Its clients are created once at module scope with boto3's defaults (legacy retry mode, 5
attempts), as the sample's are.

For the mixed fleet it does the same work as ours, per notice: an instance tagged `ECSCluster` is looked up in that
cluster (ListContainerInstances with an ec2InstanceId filter, the match verified with DescribeContainerInstances as
ours verifies it) and set to DRAINING; one tagged `LoadBalancerName` is deregistered from that Classic Load
Balancer.

One extension so that the comparison is like for like: the sample drained instance-type target groups only; to
drain ip-type groups too, this baseline deregisters the instance's primary private IP there, and learns a group's
target type with one DescribeTargetGroups, cached for the life of the process (which favours the baseline: real
Lambda environments would each look it up once).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from bench.scenario import BLOG_TAG_KEY, CLASSIC_TAG_KEY, ECS_CLUSTER_TAG_KEY, Notice, stamp

# Lambda runs one environment per concurrent notice; threads stand in for them (capped, bounded by the notices).
MAX_CONCURRENT_INVOCATIONS = 400


@dataclass
class BaselineRun:
    invocations: int = 0
    swallowed_errors: list[str] = field(default_factory=list)


class BlogSampleBaseline:
    """BASELINE: one invocation per notice, three API calls when nothing goes wrong."""

    def __init__(self, session: boto3.session.Session, endpoint_url: str, topic_arn: str):
        # boto3 defaults; only the connection pool is widened, because threads here share what Lambda would not.
        config = Config(max_pool_connections=MAX_CONCURRENT_INVOCATIONS)
        self.ec2 = session.client("ec2", endpoint_url=endpoint_url, config=config)
        self.elbv2 = session.client("elbv2", endpoint_url=endpoint_url, config=config)
        self.sns = session.client("sns", endpoint_url=endpoint_url, config=config)
        self.ecs = session.client("ecs", endpoint_url=endpoint_url, config=config)
        self.elb = session.client("elb", endpoint_url=endpoint_url, config=config)
        self.topic_arn = topic_arn
        self._target_types: dict[str, str] = {}
        self._lock = threading.Lock()

    def handle(self, event: dict) -> str | None:
        """Handle one notice; returns the swallowed error, if any (the sample would only log it)."""
        try:
            instance_id = event["detail"]["instance-id"]
            described = self.ec2.describe_instances(InstanceIds=[instance_id])
            instance = described["Reservations"][0]["Instances"][0]
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            target_group_arn = tags.get(BLOG_TAG_KEY)
            if target_group_arn:
                target_id = instance_id
                if self._target_type(target_group_arn) == "ip":
                    target_id = instance["PrivateIpAddress"]
                self.elbv2.deregister_targets(TargetGroupArn=target_group_arn, Targets=[{"Id": target_id}])
            cluster = tags.get(ECS_CLUSTER_TAG_KEY)
            if cluster:
                listed = self.ecs.list_container_instances(cluster=cluster, filter=f"ec2InstanceId == '{instance_id}'")
                # moto ignores the filter (so would a careless reader): the one whose ec2InstanceId matches.
                described = self.ecs.describe_container_instances(
                    cluster=cluster, containerInstances=listed["containerInstanceArns"][:100]
                )["containerInstances"]
                mine = [c["containerInstanceArn"] for c in described if c.get("ec2InstanceId") == instance_id]
                if mine:
                    self.ecs.update_container_instances_state(
                        cluster=cluster, containerInstances=mine, status="DRAINING"
                    )
            load_balancer = tags.get(CLASSIC_TAG_KEY)
            if load_balancer:
                self.elb.deregister_instances_from_load_balancer(
                    LoadBalancerName=load_balancer, Instances=[{"InstanceId": instance_id}]
                )
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=f"Spot interruption: {instance_id}",
                Message=json.dumps({"instance": instance_id, "targetGroup": target_group_arn, "notice": event["id"]}),
            )
            return None
        except Exception as exc:  # noqa: BLE001 - the sample's behaviour, reproduced on purpose
            return f"{type(exc).__name__}: {exc}"

    def _target_type(self, arn: str) -> str:
        with self._lock:
            known = self._target_types.get(arn)
        if known is None:
            known = self.elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["TargetType"]
            with self._lock:
                self._target_types[arn] = known
        return known


def run_baseline(
    notices: list[Notice],
    session: boto3.session.Session,
    endpoint_url: str,
    topic_arn: str,
    start_at: float,
    handler=None,
) -> BaselineRun:
    """Invoke the baseline once per notice, each at start_at + its offset, concurrently as Lambda would.

    `handler`: anything with BlogSampleBaseline's handle(event), e.g. one deployment per account (bench/accounts.py).
    """
    handler = handler or BlogSampleBaseline(session, endpoint_url, topic_arn)
    run = BaselineRun()
    lock = threading.Lock()

    def invoke(event: dict) -> None:
        error = handler.handle(event)
        if error:
            with lock:
                run.swallowed_errors.append(error)

    workers = max(1, min(MAX_CONCURRENT_INVOCATIONS, len(notices)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="baseline") as pool:
        for notice in notices:
            due = start_at + notice.offset_s
            time.sleep(max(0.0, due - time.time()))
            run.invocations += 1
            pool.submit(invoke, stamp(notice.event, due))
    return run
