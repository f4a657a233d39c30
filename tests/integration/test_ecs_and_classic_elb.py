"""Draining ECS container instances and Classic Load Balancers (issue 13), against a moto account, asserting on the
account's state afterwards: container instance status, a Classic Load Balancer's instances and its draining timeout,
and the alert.
"""

from __future__ import annotations

import json

from spot_handler.steps.ecs import EcsSettings

from tests.support.events import load_event

ECS_EVENT = "spot-interruption-ecs-container-instance.json"
CLASSIC_EVENT = "spot-interruption-classic-elb.json"


# ---- ECS ---------------------------------------------------------------------------------------------------------


def test_tagged_container_instance_is_set_to_draining_and_the_alert_names_cluster_and_services(account):
    # Given a container instance of cluster "game" (tagged ECSCluster=game) running two tasks of service "lobby"
    # (minimum healthy 50%), one of service "match" (100%) and one standalone task; and a bystander in the cluster
    b = account.builder
    b.ecs_cluster("game")
    victim = b.spot_instance("ecs-1", tags={"ECSCluster": "game"})
    bystander = b.spot_instance("ecs-2", tags={"ECSCluster": "game"})
    victim_ci = b.container_instance("game", victim.instance_id)
    bystander_ci = b.container_instance("game", bystander.instance_id)
    b.ecs_service("game", "lobby", minimum_healthy_percent=50)
    b.ecs_service("game", "match", minimum_healthy_percent=100)
    b.ecs_tasks("game", victim_ci, "lobby", count=2, service="lobby")
    b.ecs_tasks("game", victim_ci, "match", service="match")
    b.ecs_tasks("game", victim_ci, "lobby")  # standalone: group family:lobby
    b.ecs_tasks("game", bystander_ci, "lobby", service="lobby")

    # When its Spot interruption warning arrives
    account.invoke(load_event(ECS_EVENT, victim.instance_id))

    # Then its container instance is DRAINING, the bystander's stays ACTIVE
    assert b.container_instance_status("game", victim_ci) == "DRAINING"
    assert b.container_instance_status("game", bystander_ci) == "ACTIVE"
    # And the alert names the cluster, the container instance and its services, warning about the 100% one
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    ecs = alert.document["ecs"]
    assert ecs["cluster"] == "game" and ecs["containerInstanceArn"] == victim_ci
    assert ecs["draining"] is True and ecs["statusBefore"] == "ACTIVE"
    assert [(s["name"], s["tasks"], s["minimumHealthyPercent"], s["mayNotMoveInTime"]) for s in ecs["services"]] == [
        ("lobby", 2, 50, False),
        ("match", 1, 100, True),
    ]
    assert ecs["standaloneTasks"] == 1
    [(_, body)] = account.email_texts()
    assert f"cluster game, container instance {victim_ci.rsplit('/', 1)[-1]}" in body
    assert "services: lobby (2 tasks), match (1 task)" in body
    assert "WARNING: match has minimum healthy percent 100" in " ".join(body.split())
    assert "1 standalone task: not moved by draining" in body


def test_untagged_container_instance_is_found_by_searching_the_clusters_and_only_it_is_drained(account):
    # Given two clusters; the victim (no cluster tag) is in "batch", and "web" holds other instances. moto ignores
    # ListContainerInstances' filter and lists every container instance: only a verified match may be drained.
    b = account.builder
    b.ecs_cluster("web")
    b.ecs_cluster("batch")
    victim = b.spot_instance("batch-1")
    others = [b.spot_instance(f"web-{n}") for n in range(2)]
    victim_ci = b.container_instance("batch", victim.instance_id)
    other_cis = [b.container_instance("web", o.instance_id) for o in others]
    batch_neighbour = b.container_instance("batch", b.spot_instance("batch-2").instance_id)

    account.invoke(load_event(ECS_EVENT, victim.instance_id))

    assert b.container_instance_status("batch", victim_ci) == "DRAINING"
    assert [b.container_instance_status("web", ci) for ci in other_cis] == ["ACTIVE", "ACTIVE"]
    assert b.container_instance_status("batch", batch_neighbour) == "ACTIVE"
    [alert] = account.alerts()
    assert alert.document["ecs"]["cluster"] == "batch"
    assert alert.document["outcome"] == "drained"


def test_discovery_off_leaves_untagged_container_instances_alone(account):
    b = account.builder
    b.ecs_cluster("batch")
    victim = b.spot_instance("batch-1")
    victim_ci = b.container_instance("batch", victim.instance_id)

    account.invoke(load_event(ECS_EVENT, victim.instance_id), steps=(EcsSettings(discover_clusters=False),))

    assert b.container_instance_status("batch", victim_ci) == "ACTIVE"
    [alert] = account.alerts()
    assert alert.document["ecs"] is None
    assert alert.document["outcome"] == "nothing-to-drain"


def test_already_draining_container_instance_is_reported_not_failed(account):
    # Given a container instance someone already set to DRAINING
    b = account.builder
    b.ecs_cluster("game")
    victim = b.spot_instance("ecs-1", tags={"ECSCluster": "game"})
    victim_ci = b.container_instance("game", victim.instance_id)
    b.client("ecs").update_container_instances_state(cluster="game", containerInstances=[victim_ci], status="DRAINING")

    account.invoke(load_event(ECS_EVENT, victim.instance_id))

    # Then it stays DRAINING and the alert says so, with no failure
    assert b.container_instance_status("game", victim_ci) == "DRAINING"
    [alert] = account.alerts()
    assert alert.document["failures"] == []
    assert alert.document["ecs"]["statusBefore"] == "DRAINING" and alert.document["ecs"]["draining"] is False
    assert alert.document["outcome"] == "drained"
    [(_, body)] = account.email_texts()
    assert "already DRAINING: nothing to do" in body


def test_instance_tagged_with_a_cluster_it_is_not_in_is_a_named_failure(account):
    b = account.builder
    b.ecs_cluster("game")
    victim = b.spot_instance("ecs-1", tags={"ECSCluster": "arn:aws:ecs:us-east-2:123456789012:cluster/game"})

    account.invoke(load_event(ECS_EVENT, victim.instance_id))

    [alert] = account.alerts()
    assert alert.document["failures"] == ["ECS cluster game: not a container instance of this cluster"]
    assert alert.document["outcome"] == "failed"


def test_a_batch_of_eleven_container_instances_in_one_cluster_is_drained_in_calls_of_ten(account):
    # Given 11 container instances of one cluster interrupted in one SQS batch (moto, patched, refuses > 10 a call)
    b = account.builder
    b.ecs_cluster("fleet")
    victims = b.spot_instances(11, "fleet", tags={"ECSCluster": "fleet"})
    arns = [b.container_instance("fleet", v.instance_id) for v in victims]
    records = [
        {"messageId": f"m{n}", "body": json.dumps(load_event(ECS_EVENT, v.instance_id) | {"id": f"e{n}"})}
        for n, v in enumerate(victims)
    ]

    report = account.invoke({"Records": records})

    assert report.batch_item_failures == []
    assert [b.container_instance_status("fleet", arn) for arn in arns] == ["DRAINING"] * 11
    assert sorted(a.document["outcome"] for a in account.alerts()) == ["drained"] * 11


# ---- Classic Load Balancers --------------------------------------------------------------------------------------


def test_tagged_classic_load_balancers_lose_the_instance_and_a_long_draining_timeout_is_lowered(account):
    # Given an instance registered with two Classic Load Balancers named in its tag (300 s and 60 s draining),
    # and a bystander registered with the first
    b = account.builder
    slow = b.classic_load_balancer("legacy-web", draining_timeout=300)
    quick = b.classic_load_balancer("legacy-api", draining_timeout=60)
    victim = b.spot_instance("legacy-1", tags={"LoadBalancerName": f"{slow}, {quick}"})
    bystander = b.spot_instance("legacy-2")
    b.register_classic(slow, [victim.instance_id, bystander.instance_id])
    b.register_classic(quick, [victim.instance_id])

    account.invoke(load_event(CLASSIC_EVENT, victim.instance_id))

    # Then it is out of both, the bystander stays, the 300 s timeout is the 120 s budget and the 60 s one is kept
    assert b.classic_instances(slow) == [bystander.instance_id]
    assert b.classic_instances(quick) == []
    assert b.connection_draining(slow) == {"Enabled": True, "Timeout": 120}
    assert b.connection_draining(quick) == {"Enabled": True, "Timeout": 60}
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    by_name = {d["name"]: d for d in alert.document["classicLoadBalancers"]}
    assert by_name["legacy-web"]["connectionDrainingLoweredFromSeconds"] == 300
    assert by_name["legacy-web"]["connectionDrainingSeconds"] == 120
    assert by_name["legacy-api"]["connectionDrainingSeconds"] == 60 and by_name["legacy-api"]["deregistered"]
    [(_, body)] = account.email_texts()
    assert "connection draining lowered 300 s -> 120 s" in body


def test_auto_scaling_group_classic_load_balancers_are_drained_from_the_same_group_read(account):
    b = account.builder
    old = b.classic_load_balancer("asg-classic", draining_timeout=None)
    [victim] = b.auto_scaling_group("classic-asg", [], size=1, load_balancer_names=[old])
    assert b.classic_instances(old) == [victim]  # the group registered it

    account.invoke(load_event(CLASSIC_EVENT, victim))

    assert b.classic_instances(old) == []
    [alert] = account.alerts()
    assert [d["name"] for d in alert.document["classicLoadBalancers"]] == ["asg-classic"]
    [(_, body)] = account.email_texts()
    assert "connection draining off" in body


def test_a_name_that_is_no_load_balancer_is_a_named_failure_and_the_others_are_still_drained(account):
    b = account.builder
    real = b.classic_load_balancer("legacy-web", draining_timeout=30)
    victim = b.spot_instance("legacy-1", tags={"LoadBalancerName": f"no-such-elb {real} not/a/name"})
    b.register_classic(real, [victim.instance_id])

    account.invoke(load_event(CLASSIC_EVENT, victim.instance_id))

    assert b.classic_instances(real) == []
    [alert] = account.alerts()
    assert alert.document["outcome"] == "partial"
    failures = alert.document["failures"]
    assert "tag value 'not/a/name' is not a Classic Load Balancer name" in failures
    assert any(f.startswith("Classic Load Balancer no-such-elb: LoadBalancerNotFound") for f in failures)
    assert len(failures) == 2


def test_instance_not_registered_with_its_classic_load_balancer_counts_as_done(account):
    b = account.builder
    empty = b.classic_load_balancer("legacy-empty", draining_timeout=300)
    victim = b.spot_instance("legacy-1", tags={"LoadBalancerName": empty})

    account.invoke(load_event(CLASSIC_EVENT, victim.instance_id))

    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained" and alert.document["failures"] == []
    assert alert.document["classicLoadBalancers"][0]["notRegistered"] is True
    assert b.connection_draining(empty)["Timeout"] == 300  # nothing deregistered: nothing to shorten


# ---- all three at once -------------------------------------------------------------------------------------------


def test_an_instance_in_a_target_group_a_classic_load_balancer_and_an_ecs_cluster_leaves_all_three(account):
    b = account.builder
    tg = b.target_group("web", delay=60)
    victim, clb, ci = b.instance_serving_everywhere("all-1", tg)

    account.invoke(load_event(CLASSIC_EVENT, victim.instance_id))

    assert b.registered(tg) == []
    assert b.classic_instances(clb) == []
    assert b.container_instance_status("game", ci) == "DRAINING"
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert alert.document["secondsLeftAtDrain"] is not None
    [(_, body)] = account.email_texts()
    assert body.index("Target groups") < body.index("Classic Load Balancers") < body.index("\nECS\n")
