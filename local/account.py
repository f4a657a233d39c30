"""Builds realistic account state (VPC, Spot instances, target groups, an Auto Scaling group) in moto.

The tests, the demo, the e2e suite and the benchmark all seed their accounts through this one builder, so what
the tests check is what the demo shows.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import boto3

from local import moto_fidelity

AMI = "ami-12c6146b"  # an image id moto knows
MEMBER_ROLE_NAME = "SpotInterruptionHandlerMember"  # the templates' constant (Mappings: Constants Names MemberRole)


def account_session(account_id: str, region: str) -> boto3.session.Session:
    """A session acting as the administrator of another moto account, for seeding it (the header moto reads to pick
    the account). Only the harness does this: the handler reaches member accounts through AssumeRole."""
    # moto's test credentials: moto reads the account from the header below, never from these.
    session = boto3.session.Session(
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # nosec B106 - moto's
    )

    def in_account(request, **kwargs):
        request.headers["x-moto-account-id"] = account_id

    session.events.register("before-send.*.*", in_account)
    return session


def create_member_role(
    session: boto3.session.Session, hub_role_arn: str, name: str = MEMBER_ROLE_NAME, endpoint_url: str | None = None
) -> str:
    """The member role as member/template.yaml creates it: trusted by the hub handler's role only. Its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": hub_role_arn}, "Action": "sts:AssumeRole"}],
    }
    iam = session.client("iam", endpoint_url=endpoint_url)
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


@dataclass
class Instance:
    instance_id: str
    private_ips: list[str]
    availability_zone: str
    name: str


@dataclass
class AccountBuilder:
    session: boto3.session.Session
    endpoint_url: str | None = None
    vpc_id: str = ""
    subnets: list[tuple[str, str]] = field(default_factory=list)  # (subnet id, availability zone)

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint_url)

    @property
    def region(self) -> str:
        return self.session.region_name

    def network(self, subnet_prefix: int = 24) -> AccountBuilder:
        """A VPC with one subnet in each of two zones; a shorter prefix makes room for a large fleet (the bench)."""
        ec2 = self.client("ec2")
        self.vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        blocks = ipaddress.ip_network("10.20.0.0/16").subnets(new_prefix=subnet_prefix)
        next(blocks)  # the first block stays free, so the default /24 subnets are 10.20.1.0/24 and 10.20.2.0/24
        for suffix, block in zip("ab", blocks):
            zone = f"{self.region}{suffix}"
            subnet = ec2.create_subnet(VpcId=self.vpc_id, CidrBlock=str(block), AvailabilityZone=zone)
            self.subnets.append((subnet["Subnet"]["SubnetId"], zone))
        return self

    def spot_instance(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        zone_index: int = 0,
        secondary_ips: int = 0,
        extra_enis: int = 0,
        instance_type: str = "c6g.large",
    ) -> Instance:
        ec2 = self.client("ec2")
        subnet_id, zone = self.subnets[zone_index]
        all_tags = {"Name": name, **(tags or {})}
        reservation = ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SubnetId=subnet_id,
            InstanceMarketOptions={"MarketType": "spot"},
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}
            ],
        )
        instance = reservation["Instances"][0]
        instance_id = instance["InstanceId"]
        primary_eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
        # Addresses are chosen here rather than by moto, which can hand out an address twice in one subnet.
        if secondary_ips:
            ec2.assign_private_ip_addresses(
                NetworkInterfaceId=primary_eni, PrivateIpAddresses=self._free_ips(subnet_id, secondary_ips)
            )
        for index in range(extra_enis):
            primary, secondary = self._free_ips(subnet_id, 2)
            eni = ec2.create_network_interface(
                SubnetId=subnet_id,
                PrivateIpAddresses=[
                    {"PrivateIpAddress": primary, "Primary": True},
                    {"PrivateIpAddress": secondary, "Primary": False},
                ],
            )
            ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"],
                InstanceId=instance_id,
                DeviceIndex=index + 1,
            )
        return Instance(instance_id, self.private_ips(instance_id), zone, name)

    def spot_instances(
        self, count: int, name: str, tags: dict[str, str] | None = None, zone_index: int = 0
    ) -> list[Instance]:
        """`count` Spot instances from one RunInstances call (a fleet for the bench), each with one private IP."""
        return self.instances(count, name, tags, zone_index)

    def instances(
        self,
        count: int,
        name: str,
        tags: dict[str, str] | None = None,
        zone_index: int = 0,
        spot: bool = True,
        instance_type: str = "c6g.large",
    ) -> list[Instance]:
        """`count` instances, Spot or On-Demand, from one RunInstances call, each with one private IP."""
        subnet_id, zone = self.subnets[zone_index]
        all_tags = {"Name": name, **(tags or {})}
        reservation = self.client("ec2").run_instances(
            ImageId=AMI,
            MinCount=count,
            MaxCount=count,
            InstanceType=instance_type,
            SubnetId=subnet_id,
            **({"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}),
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}
            ],
        )
        return [Instance(i["InstanceId"], [i["PrivateIpAddress"]], zone, name) for i in reservation["Instances"]]

    def _free_ips(self, subnet_id: str, count: int) -> list[str]:
        """Addresses of the subnet no network interface uses yet, from the top of the range: moto hands out primary
        addresses from the bottom and does not see addresses assigned this way (AWS reserves the first four and
        the last)."""
        ec2 = self.client("ec2")
        used = {
            address["PrivateIpAddress"]
            for eni in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])[
                "NetworkInterfaces"
            ]
            for address in eni.get("PrivateIpAddresses", [])
        }
        cidr = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["CidrBlock"]
        hosts = list(ipaddress.ip_network(cidr).hosts())[3:-1][::-1]
        free = [str(ip) for ip in hosts if str(ip) not in used]
        return free[:count]

    def private_ips(self, instance_id: str) -> list[str]:
        described = self.client("ec2").describe_instances(InstanceIds=[instance_id])
        instance = described["Reservations"][0]["Instances"][0]
        return [a["PrivateIpAddress"] for eni in instance["NetworkInterfaces"] for a in eni["PrivateIpAddresses"]]

    def tag(self, instance_id: str, tags: dict[str, str]) -> None:
        self.client("ec2").create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def terminate(self, instance_id: str) -> None:
        """A user's TerminateInstances (StateReason Client.UserInitiatedShutdown)."""
        self.client("ec2").terminate_instances(InstanceIds=[instance_id])

    def stop(self, instance_id: str) -> None:
        """A user's StopInstances (StateReason Client.UserInitiatedShutdown)."""
        self.client("ec2").stop_instances(InstanceIds=[instance_id])

    def described(self, instance_id: str) -> dict:
        """The instance as DescribeInstances returns it (State, StateReason, StateTransitionReason...)."""
        [reservation] = self.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservation["Instances"][0]

    # ---- EC2 interrupting Spot instances: local/moto_fidelity.py plays EC2, in the moto of this process (mock_aws,
    # or the local cloud's threaded server; not a moto server in another process, such as the bench's) -------------

    @cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    def interrupt_spot(
        self, instance_id: str, action: str = "terminate", complete: bool = True, at: datetime | None = None
    ) -> None:
        """EC2 interrupting the Spot instance with `action` (terminate, stop or hibernate): shutting-down then
        terminated, or stopping then stopped, with the Spot state reason. With complete=False it stays shutting-down
        or stopping until `complete_interruption`. `at`: when EC2 began, now by default."""
        moto_fidelity.interrupt(self.account_id, self.region, instance_id, action, complete=complete, at=at)

    def complete_interruption(self, instance_id: str) -> None:
        moto_fidelity.complete_interruption(self.account_id, self.region, instance_id)

    def resume(self, instance_id: str) -> None:
        """EC2 starting the Spot instance it stopped or hibernated again: running."""
        moto_fidelity.resume(self.account_id, self.region, instance_id)

    def scale_in(self, instance_id: str) -> None:
        """Auto Scaling terminating the instance, waiting on a terminate lifecycle hook (Terminating:Wait)."""
        moto_fidelity.scale_in(self.account_id, self.region, instance_id)

    def target_group(self, name: str, target_type: str = "instance", delay: int = 300, port: int = 80) -> str:
        elbv2 = self.client("elbv2")
        arn = elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=port, VpcId=self.vpc_id, TargetType=target_type
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}]
        )
        return arn

    def instance_serving_everywhere(self, name: str, target_group: str, cluster: str = "game"):
        """A Spot instance in a target group (port 80), behind a Classic Load Balancer and an ECS container instance
        of `cluster`, tagged with all three: (instance, Classic Load Balancer name, container instance ARN)."""
        classic = self.classic_load_balancer(f"legacy-{name}", draining_timeout=60)
        self.ecs_cluster(cluster)
        tags = {"TargetGroupArn": target_group, "LoadBalancerName": classic, "ECSCluster": cluster}
        instance = self.spot_instance(name, tags=tags)
        self.register(target_group, [instance.instance_id], ports=[80])
        self.register_classic(classic, [instance.instance_id])
        return instance, classic, self.container_instance(cluster, instance.instance_id)

    def instance_in_target_group(
        self,
        target_group: str,
        instance: str,
        *,
        target_type: str = "instance",
        delay: int = 60,
        ports: tuple[int, ...] = (80,),
        tags: dict[str, str] | None = None,
    ) -> tuple[str, Instance]:
        """A target group, and a Spot instance tagged with it and registered in it: (target group ARN, instance)."""
        arn = self.target_group(target_group, target_type, delay=delay)
        created = self.spot_instance(instance, tags={"TargetGroupArn": arn, **(tags or {})})
        targets = [created.instance_id] if target_type == "instance" else created.private_ips
        self.register(arn, targets, ports=list(ports))
        return arn, created

    def register(self, target_group_arn: str, target_ids: list[str], ports: list[int]) -> None:
        self.client("elbv2").register_targets(
            TargetGroupArn=target_group_arn, Targets=[{"Id": t, "Port": p} for t in target_ids for p in ports]
        )

    def registered(self, target_group_arn: str) -> list[str]:
        """'id:port' of every registration still in the target group, draining ones left out (the state tests
        assert on: a draining target no longer receives new requests)."""
        return sorted(k for k, state in self.target_states(target_group_arn).items() if state != "draining")

    def target_states(self, target_group_arn: str) -> dict[str, str]:
        """{'id:port': state} of every registration DescribeTargetHealth lists, draining ones included."""
        health = self.client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
        return {
            f"{d['Target']['Id']}:{d['Target']['Port']}": d["TargetHealth"]["State"]
            for d in health["TargetHealthDescriptions"]
        }

    def lifecycle_hook(self, group: str, name: str, heartbeat_timeout: int = 300) -> None:
        self.client("autoscaling").put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName=name,
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
            HeartbeatTimeout=heartbeat_timeout,
            DefaultResult="ABANDON",
        )

    def deregistration_delay(self, target_group_arn: str) -> int:
        attributes = self.client("elbv2").describe_target_group_attributes(TargetGroupArn=target_group_arn)[
            "Attributes"
        ]
        return int(next(a["Value"] for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"))

    def idempotency_table(self, name: str) -> str:
        """The idempotency table as template.yaml declares it: key `id`, TTL attribute `expiration`, on demand."""
        return self._table(name, {"id": "HASH"})

    def incident_table(self, name: str) -> str:
        """The incident table as template.yaml declares it (key `id`, TTL attribute `expiration`): what drains took."""
        return self._table(name, {"id": "HASH"})

    def checkpoint_table(self, name: str) -> str:
        """The GameLift checkpoint table as template.yaml declares it (keys and TTL attribute)."""
        return self._table(name, {"instanceId": "HASH", "checkpointId": "RANGE"})

    def _table(self, name: str, keys: dict[str, str]) -> str:
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys.items()],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
        return name

    def auto_scaling_group(
        self, name: str, target_group_arns: list[str], size: int = 2, load_balancer_names: list[str] | None = None
    ) -> list[str]:
        """An Auto Scaling group of Spot-style instances attached to the target groups; returns its instance ids."""
        ec2 = self.client("ec2")
        autoscaling = self.client("autoscaling")
        template = f"{name}-template"
        ec2.create_launch_template(
            LaunchTemplateName=template,
            LaunchTemplateData={
                "ImageId": AMI,
                "InstanceType": "c6g.large",
                "InstanceMarketOptions": {"MarketType": "spot"},
            },
        )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template},
            MinSize=size,
            MaxSize=size,
            DesiredCapacity=size,
            VPCZoneIdentifier=",".join(subnet for subnet, _ in self.subnets),
            TargetGroupARNs=target_group_arns,
            LoadBalancerNames=load_balancer_names or [],
        )
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return [i["InstanceId"] for i in group["Instances"]]

    # ---- ECS ---------------------------------------------------------------------------------------------------

    def ecs_cluster(self, name: str) -> str:
        return self.client("ecs").create_cluster(clusterName=name)["cluster"]["clusterArn"]

    def container_instance(self, cluster: str, instance_id: str) -> str:
        """Register the EC2 instance in the cluster as the ECS agent does; returns the container instance ARN."""
        document = json.dumps({"instanceId": instance_id, "region": self.region})
        registered = self.client("ecs").register_container_instance(cluster=cluster, instanceIdentityDocument=document)
        return registered["containerInstance"]["containerInstanceArn"]

    def ecs_service(self, cluster: str, name: str, minimum_healthy_percent: int = 50) -> str:
        ecs = self.client("ecs")
        ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": name, "image": f"example/{name}", "memory": 128, "cpu": 64}]
        )
        return ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=name,
            desiredCount=1,
            deploymentConfiguration={"minimumHealthyPercent": minimum_healthy_percent, "maximumPercent": 200},
        )["service"]["serviceArn"]

    def ecs_tasks(self, cluster: str, container_instance_arn: str, family: str, count: int = 1, service: str = ""):
        """Tasks placed on the container instance: a service's (group service:NAME) or standalone ones."""
        group = f"service:{service}" if service else f"family:{family}"
        for _ in range(count):
            self.client("ecs").start_task(
                cluster=cluster, taskDefinition=family, containerInstances=[container_instance_arn], group=group
            )

    def container_instance_status(self, cluster: str, container_instance_arn: str) -> str:
        described = self.client("ecs").describe_container_instances(
            cluster=cluster, containerInstances=[container_instance_arn]
        )
        return described["containerInstances"][0]["status"]

    # ---- Classic Load Balancers --------------------------------------------------------------------------------

    def classic_load_balancer(self, name: str, draining_timeout: int | None = 300) -> str:
        """A Classic Load Balancer in the first zone; connection draining on with the timeout (None: off)."""
        elb = self.client("elb")
        elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
            AvailabilityZones=[zone for _, zone in self.subnets],
        )
        if draining_timeout is not None:
            elb.modify_load_balancer_attributes(
                LoadBalancerName=name,
                LoadBalancerAttributes={"ConnectionDraining": {"Enabled": True, "Timeout": draining_timeout}},
            )
        return name

    def register_classic(self, name: str, instance_ids: list[str]) -> None:
        self.client("elb").register_instances_with_load_balancer(
            LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instance_ids]
        )

    def classic_instances(self, name: str) -> list[str]:
        """Instance ids still registered with the Classic Load Balancer (the state tests assert on)."""
        described = self.client("elb").describe_load_balancers(LoadBalancerNames=[name])
        return sorted(i["InstanceId"] for i in described["LoadBalancerDescriptions"][0]["Instances"])

    def connection_draining(self, name: str) -> dict:
        attributes = self.client("elb").describe_load_balancer_attributes(LoadBalancerName=name)
        return attributes["LoadBalancerAttributes"]["ConnectionDraining"]
