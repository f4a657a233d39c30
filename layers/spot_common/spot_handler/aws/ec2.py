"""EC2: the facts about interrupted instances, one DescribeInstances per batch."""

from __future__ import annotations

from collections.abc import Iterable

from spot_handler.models import SPOT_INTERRUPTION_REASONS, InstanceFacts

# EC2 accepts at most 200 values in one filter.
_FILTER_VALUES_MAX = 200


def describe_instances(ec2, instance_ids: Iterable[str]) -> dict[str, InstanceFacts]:
    """Facts for every instance that still exists, keyed by id.

    Uses an instance-id filter instead of InstanceIds: with InstanceIds one terminated or unknown instance fails the
    whole call (InvalidInstanceID.NotFound); with a filter it is simply absent from the answer.
    """
    ids = sorted(set(instance_ids))
    found: dict[str, InstanceFacts] = {}
    for start in range(0, len(ids), _FILTER_VALUES_MAX):
        chunk = ids[start : start + _FILTER_VALUES_MAX]
        paginator = ec2.get_paginator("describe_instances")
        for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": chunk}]):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    facts = _facts(instance)
                    found[facts.instance_id] = facts
    return found


def _facts(instance: dict) -> InstanceFacts:
    ips: list[str] = []
    ipv6: list[str] = []
    for eni in instance.get("NetworkInterfaces", []):
        for address in eni.get("PrivateIpAddresses", []):
            ip = address.get("PrivateIpAddress")
            if ip and ip not in ips:
                ips.append(ip)
        for address in eni.get("Ipv6Addresses", []):
            ip = address.get("Ipv6Address")
            if ip and ip not in ipv6:
                ipv6.append(ip)
    primary = instance.get("PrivateIpAddress")
    if primary and primary not in ips:
        ips.insert(0, primary)
    return InstanceFacts(
        instance_id=instance["InstanceId"],
        state=instance.get("State", {}).get("Name", "unknown"),
        instance_type=instance.get("InstanceType", "unknown"),
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone", "unknown"),
        private_ips=tuple(ips),
        tags={t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])},
        lifecycle=instance.get("InstanceLifecycle", "on-demand"),
        vpc_id=instance.get("VpcId"),
        ipv6_addresses=tuple(ipv6),
        state_reason=(instance.get("StateReason") or {}).get("Code"),
        state_changed=instance.get("StateTransitionReason") or None,
    )


def interrupted_spot_instances(ec2) -> list[tuple[str, InstanceFacts]]:
    """(owner account, facts) of every Spot instance EC2 is stopping or terminating, or has stopped or terminated,
    for a Spot interruption (its state reason): one DescribeInstances with filters, all pages. Terminated instances
    stay visible about an hour."""
    filters = [
        {"Name": "instance-lifecycle", "Values": ["spot"]},
        {"Name": "instance-state-name", "Values": ["stopping", "stopped", "shutting-down", "terminated"]},
        {"Name": "state-reason-code", "Values": list(SPOT_INTERRUPTION_REASONS)},
    ]
    found: list[tuple[str, InstanceFacts]] = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                found.append((reservation.get("OwnerId", "unknown"), _facts(instance)))
    return found
