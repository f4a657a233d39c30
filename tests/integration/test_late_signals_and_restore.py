"""Interruptions the handler never heard of, and drains it no longer needs (issue 23), against a moto account where
EC2 interrupts Spot instances as it does in AWS (local/moto_fidelity.py: shutting-down or stopping, then terminated
or stopped, with the Spot state reason).

- Late signal: a Spot instance EC2 takes back with no warning is acted on at its state change: drained once, one
  `missed-warning` alert; a warned one gets nothing more; a user's own stop costs one read and nothing else.
- Sweep: with the state change lost too, the scheduled sweep alerts it once as `missed`, whatever the number of
  sweeps, and deregisters what it left (ip targets of a terminated instance stay registered forever otherwise).
- Restore: a hibernated instance drained, then running again, is back where it was (same ports, Classic, ECS) with
  one `restored` alert; a rebalance drain no warning followed is put back after RestoreAfterRebalanceMinutes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from spot_handler.outcome import Outcome

from tests.support.chat import readable_chat
from tests.support.events import load_event
from tests.support.faults import Fault, FaultInjector, no_backoff
from tests.support.followups import batch, follow_ups, now_iso

INCIDENTS = "spot-incidents"
IDEMPOTENCY = "spot-idempotency"


@pytest.fixture
def handler(account):
    """The account with the handler's incident and idempotency tables (as template.yaml deploys them)."""
    account.setting_defaults["incident_table_name"] = account.builder.incident_table(INCIDENTS)
    account.setting_defaults["idempotency_table_name"] = account.builder.idempotency_table(IDEMPOTENCY)
    return account


def deliver(account, *events, **settings):
    """The events through the notice queue, each a message of its own (EventBridge delivering one twice is two
    messages)."""
    ids = [f"m-{deliver.count + i}" for i in range(len(events))]
    deliver.count += len(events)
    return account.invoke(batch(*events, ids=ids), **settings)


deliver.count = 0


def state_change(instance_id: str, state: str) -> dict:
    event = load_event(f"state-change-{state}.json", instance_id)
    event["time"] = now_iso()
    return event


def sweep_event() -> dict:
    event = load_event("reconcile-sweep.json")
    event["time"] = now_iso()
    return event


def warning(instance_id: str, name: str = "spot-interruption-instance-tg.json", action: str | None = None) -> dict:
    event = load_event(name, instance_id)
    event["time"] = now_iso()
    if action:
        event["detail"]["instance-action"] = action
    return event


def record(account, instance_id: str) -> dict | None:
    item = account.clients.dynamodb.get_item(TableName=INCIDENTS, Key={"id": {"S": f"123456789012#{instance_id}"}})
    return item.get("Item")


def outcomes(alerts) -> list[str]:
    return [a.document["outcome"] for a in alerts]


class CallCounter:
    """Every AWS call the handler's clients make, by service and operation (botocore's before-call event)."""

    def __init__(self, clients):
        self.calls: list[tuple[str, str]] = []
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model, **_):
        self.calls.append((model.service_model.service_name, model.name))

    def services(self) -> set[str]:
        return {service for service, _ in self.calls}


# ---- the late signal ------------------------------------------------------------------------------------------------


def test_a_spot_instance_terminated_with_no_warning_is_drained_at_shutting_down_with_one_missed_warning_alert(handler):
    # Given a Spot instance in a target group on two ports, that EC2 starts terminating with no warning
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1", ports=(80, 8080))
    b.interrupt_spot(instance.instance_id, "terminate", complete=False)

    # When its shutting-down state change arrives (twice: EventBridge delivers at least once)
    deliver(handler, state_change(instance.instance_id, "shutting-down"))
    deliver(handler, state_change(instance.instance_id, "shutting-down"))

    # Then it is drained from the target group, on both ports
    assert b.registered(arn) == []
    # and one alert says it was caught late, with no warning
    alerts = handler.alerts()
    assert outcomes(alerts) == [Outcome.MISSED_WARNING]
    assert alerts[0].document["instanceId"] == instance.instance_id
    text = json.dumps(alerts[0].document) + alerts[0].subject
    assert "no" in text.lower() and "warning" in text.lower()
    # and the durable record names each registration it took away
    item = record(handler, instance.instance_id)
    registrations = sorted(json.loads(r) for r in item["registrations"]["SS"])
    assert registrations == [[arn, instance.instance_id, 80, None], [arn, instance.instance_id, 8080, None]]
    # and a chat channel shows it readably: what happened, to which instance, that no warning came
    [chat] = readable_chat(handler.topic_arn)
    assert chat["metadata"]["additionalContext"]["outcome"] == Outcome.MISSED_WARNING
    said = (chat["content"]["title"] + chat["content"]["description"]).lower()
    assert instance.instance_id in said and "warning" in said


def test_a_warned_instance_gets_no_extra_alert_from_its_state_change_nor_from_the_sweep(handler):
    # Given a Spot instance drained on its interruption warning
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1")
    deliver(handler, warning(instance.instance_id))
    assert outcomes(handler.alerts()) == [Outcome.DRAINED]

    # When EC2 terminates it, its state change arrives, and three sweeps run
    b.interrupt_spot(instance.instance_id, "terminate", complete=False)
    deliver(handler, state_change(instance.instance_id, "shutting-down"))
    b.complete_interruption(instance.instance_id)
    for _ in range(3):
        handler.invoke(sweep_event())

    # Then nothing more is said
    assert handler.alerts() == []
    assert b.registered(arn) == []


def test_a_users_own_stop_or_terminate_costs_one_read_and_no_other_call_nor_alert(handler):
    # Given Spot instances in a target group, which their users stop or terminate themselves
    b = handler.builder
    arn, spot = b.instance_in_target_group("web", "web-1")
    others = [b.spot_instance(f"other-{i}", tags={"TargetGroupArn": arn}) for i in range(3)]
    b.register(arn, [o.instance_id for o in others], ports=[80])
    b.stop(spot.instance_id)
    b.terminate(others[0].instance_id)
    b.stop(others[2].instance_id)
    registered = b.registered(arn)
    counter = CallCounter(handler.clients)

    # When their state changes arrive in one batch
    deliver(
        handler,
        state_change(spot.instance_id, "stopping"),
        state_change(others[0].instance_id, "shutting-down"),
        state_change(others[2].instance_id, "stopping"),
    )

    # Then: one DescribeInstances, nothing else (no ELB, ECS, GameLift, DynamoDB call), and no alert
    assert counter.calls == [("ec2", "DescribeInstances")]
    assert handler.alerts() == []
    assert b.registered(arn) == registered


def test_a_running_instance_the_handler_never_drained_costs_two_reads_and_nothing_else(handler):
    b = handler.builder
    arn, spot = b.instance_in_target_group("web", "web-1")
    counter = CallCounter(handler.clients)

    deliver(handler, state_change(spot.instance_id, "running"))

    assert sorted(counter.calls) == [("dynamodb", "BatchGetItem"), ("ec2", "DescribeInstances")]
    assert handler.alerts() == []
    assert b.registered(arn) == [f"{spot.instance_id}:80"]


# ---- the sweep ------------------------------------------------------------------------------------------------------


def test_an_interruption_no_signal_reached_is_alerted_once_as_missed_over_three_sweeps_and_its_ip_targets_deregistered(
    handler,
):
    # Given a Spot instance registered by its addresses in an ip target group, that EC2 terminates: no warning, no
    # state change reached the handler
    b = handler.builder
    arn, instance = b.instance_in_target_group("api", "api-1", target_type="ip", ports=(443,))
    b.interrupt_spot(instance.instance_id, "terminate")
    assert b.described(instance.instance_id)["State"]["Name"] == "terminated"

    # When the sweep runs three times
    for _ in range(3):
        handler.invoke(sweep_event())

    # Then its ip targets are deregistered (they would stay registered forever otherwise)
    assert b.registered(arn) == []
    # and one alert says it was missed, naming the instance, its type and zone, when it went and what it left
    alerts = handler.alerts()
    assert outcomes(alerts) == [Outcome.MISSED]
    alert = alerts[0]
    assert alert.document["instanceId"] == instance.instance_id
    assert alert.document["instanceType"] == "c6g.large"
    assert alert.document["availabilityZone"] == instance.availability_zone
    text = handler.email_texts()[0][1]
    assert "Missed interruption" in text and "terminated" in text
    assert all(ip in text for ip in instance.private_ips)
    assert record(handler, instance.instance_id)["lastSignal"]["S"] in ("missed", "Missed Spot interruption")
    # and a chat channel shows it readably, with the addresses it left behind
    [chat] = readable_chat(handler.topic_arn)
    assert chat["metadata"]["additionalContext"]["outcome"] == Outcome.MISSED
    said = chat["content"]["title"] + chat["content"]["description"]
    assert instance.instance_id in said and all(ip in said for ip in instance.private_ips)


def test_a_missed_interruption_whose_alert_failed_is_alerted_by_the_next_sweep(handler):
    # Given an interruption only the sweep can find, and a topic that refuses the first sweep's alert
    b = handler.builder
    _, instance = b.instance_in_target_group("web", "web-1")
    b.interrupt_spot(instance.instance_id, "stop")

    handler.invoke(sweep_event(), alert_topic_arn=handler.topic_arn + "-gone")
    assert handler.alerts() == []

    # When the next sweep runs (and the one after)
    handler.invoke(sweep_event())
    handler.invoke(sweep_event())

    # Then it is alerted, once
    assert outcomes(handler.alerts()) == [Outcome.MISSED]


def test_the_sweep_leaves_alone_what_ec2_did_not_interrupt(handler):
    # Given a user's stop, a user's terminate, and a running Spot instance
    b = handler.builder
    arn, stopped = b.instance_in_target_group("web", "web-1")
    gone = b.spot_instance("web-2", tags={"TargetGroupArn": arn})
    b.register(arn, [gone.instance_id], ports=[80])
    running = b.spot_instance("web-3", tags={"TargetGroupArn": arn})
    b.register(arn, [running.instance_id], ports=[80])
    b.stop(stopped.instance_id)
    b.terminate(gone.instance_id)

    handler.invoke(sweep_event())

    assert handler.alerts() == []
    assert f"{running.instance_id}:80" in b.registered(arn)
    assert f"{stopped.instance_id}:80" in b.registered(arn)


def test_the_sweep_is_off_without_its_incident_table(account):
    b = account.builder
    _, instance = b.instance_in_target_group("web", "web-1")
    b.interrupt_spot(instance.instance_id, "terminate")

    report = account.invoke(sweep_event())

    assert account.alerts() == []
    assert report.sweep is not None and report.sweep.failures


# ---- restore --------------------------------------------------------------------------------------------------------


def test_a_hibernated_instance_running_again_is_put_back_everywhere_on_the_same_ports_with_one_restored_alert(handler):
    # Given a Spot instance in two target groups (two ports in one), a Classic Load Balancer and an ECS cluster
    b = handler.builder
    web = b.target_group("web", delay=30)
    admin = b.target_group("admin", delay=30)
    instance, classic, container = b.instance_serving_everywhere("game-1", web)
    b.tag(instance.instance_id, {"TargetGroupArn": f"{web},{admin}"})
    b.register(web, [instance.instance_id], ports=[8080])
    b.register(admin, [instance.instance_id], ports=[9000])
    before = {web: b.registered(web), admin: b.registered(admin)}
    assert len(before[web]) == 2

    # When it is warned and drained, EC2 hibernates it, then starts it again
    deliver(handler, warning(instance.instance_id, "spot-interruption-hibernate.json"))
    assert b.registered(web) == [] and b.registered(admin) == []
    assert b.classic_instances(classic) == []
    assert b.container_instance_status("game", container) == "DRAINING"
    b.interrupt_spot(instance.instance_id, "hibernate")
    b.resume(instance.instance_id)
    deliver(handler, state_change(instance.instance_id, "running"))
    deliver(handler, state_change(instance.instance_id, "running"))  # delivered twice

    # Then every registration is back, on the same ports, and the Classic and ECS registrations too
    assert b.registered(web) == before[web]
    assert b.registered(admin) == before[admin]
    assert b.classic_instances(classic) == [instance.instance_id]
    assert b.container_instance_status("game", container) == "ACTIVE"
    # with one `restored` alert listing them
    alerts = handler.alerts()
    assert outcomes(alerts) == [Outcome.DRAINED, Outcome.RESTORED]
    restored = alerts[1].document
    listed = {(r["targetGroup"], r["id"], r["port"]) for r in restored["restored"]["registrations"]}
    assert listed == {
        (web, instance.instance_id, 80),
        (web, instance.instance_id, 8080),
        (admin, instance.instance_id, 9000),
    }
    assert restored["restored"]["classicLoadBalancers"] == [classic]
    assert record(handler, instance.instance_id)["restoredAt"]
    # in the chat thread of the warning's alert
    drained_chat, restored_chat = readable_chat(handler.topic_arn)
    assert drained_chat["metadata"]["threadId"] == restored_chat["metadata"]["threadId"]
    assert restored_chat["metadata"]["additionalContext"]["outcome"] == Outcome.RESTORED
    assert instance.instance_id in restored_chat["content"]["title"] + restored_chat["content"]["description"]


def test_a_registration_the_user_took_off_the_instances_tags_is_not_put_back(handler):
    # Given a stopped-then-resumed instance whose user took one target group off its tags meanwhile
    b = handler.builder
    web = b.target_group("web", delay=30)
    old = b.target_group("old", delay=30)
    instance = b.spot_instance("web-1", tags={"TargetGroupArn": f"{web},{old}"})
    b.register(web, [instance.instance_id], ports=[80])
    b.register(old, [instance.instance_id], ports=[80])
    deliver(handler, warning(instance.instance_id, "spot-interruption-stop.json"))
    b.interrupt_spot(instance.instance_id, "stop")
    b.tag(instance.instance_id, {"TargetGroupArn": web})
    b.resume(instance.instance_id)

    deliver(handler, state_change(instance.instance_id, "running"))

    assert b.registered(web) == [f"{instance.instance_id}:80"]
    assert b.registered(old) == []
    alert = handler.alerts()[-1]
    assert alert.document["outcome"] == Outcome.RESTORED
    assert any("old" in why for why in alert.document["restored"]["leftAlone"])


def test_nothing_is_restored_for_an_instance_not_running_or_with_a_warning_newer_than_its_running_notice(handler):
    # Given an instance drained by a warning, whose `running` notice is older than the drain
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1")
    stale = state_change(instance.instance_id, "running")
    stale["time"] = now_iso(seconds_ago=600)
    deliver(handler, warning(instance.instance_id, "spot-interruption-stop.json"))

    deliver(handler, stale)
    # and one whose running notice comes while it is stopped (out of order)
    b.interrupt_spot(instance.instance_id, "stop")
    deliver(handler, state_change(instance.instance_id, "running"))

    assert b.registered(arn) == []
    assert outcomes(handler.alerts()) == [Outcome.DRAINED]


def test_restore_is_off_with_restore_drained_instances_false(handler):
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1")
    deliver(handler, warning(instance.instance_id, "spot-interruption-stop.json"))
    b.interrupt_spot(instance.instance_id, "stop")
    b.resume(instance.instance_id)

    deliver(handler, state_change(instance.instance_id, "running"), restore_drained_instances=False)

    assert b.registered(arn) == []
    assert outcomes(handler.alerts()) == [Outcome.DRAINED]


def test_an_instance_auto_scaling_is_terminating_is_not_put_back(handler):
    # Given an instance of an Auto Scaling group, drained on a stop warning, resumed, and being terminated by Auto
    # Scaling (a scale-in waiting on its hook) when its running notice arrives
    b = handler.builder
    arn = b.target_group("web-tg", delay=30)
    [member, _] = b.auto_scaling_group("web-asg", [arn], size=2)
    b.register(arn, [member], ports=[80])
    deliver(handler, warning(member, "spot-interruption-stop.json"))
    b.interrupt_spot(member, "stop")
    b.resume(member)
    b.scale_in(member)

    deliver(handler, state_change(member, "running"))

    assert f"{member}:80" not in b.registered(arn)
    assert Outcome.RESTORED not in outcomes(handler.alerts())


# ---- a rebalance drain no interruption followed ---------------------------------------------------------------------


def rebalance(instance_id: str) -> dict:
    event = load_event("rebalance-recommendation.json", instance_id)
    event["time"] = now_iso()
    return event


def due_looks(account) -> list[dict]:
    """The follow-up messages waiting in the notice queue, as their bodies."""
    return follow_ups(account)


def pass_looks(account, bodies: list[dict], at: datetime, **settings) -> list[dict]:
    """Hand the looks to the handler at `at` (as if their delay had passed); the looks they scheduled next."""
    account.invoke(batch(*bodies), clock=lambda: at, **settings)
    return due_looks(account)


def test_a_rebalance_drain_no_warning_followed_is_put_back_after_the_wait(handler):
    # Given DrainOnRebalance, a Spot instance drained on its rebalance recommendation
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1", ports=(80, 8080))
    before = b.registered(arn)
    deliver(handler, rebalance(instance.instance_id), drain_on_rebalance=True)
    assert b.registered(arn) == []
    first = handler.alerts()
    assert outcomes(first) == [Outcome.DRAINED]
    assert "put back" in handler.email_texts()[0][1]
    looks = [c for body in due_looks(handler) for c in body["checks"] if c["kind"] == "restore"]
    assert len(looks) == 1
    due = datetime.fromisoformat(looks[0]["due"])
    assert timedelta(minutes=29) < due - datetime.now(UTC) <= timedelta(minutes=30)

    # When its restore look arrives early (an SQS delay is 15 minutes at most), then when due
    body = {"source": "spot-interruption-handler", "detail-type": "Drain follow-up", "checks": looks}
    again = pass_looks(handler, [body], datetime.now(UTC) + timedelta(minutes=15), drain_on_rebalance=True)
    assert b.registered(arn) == []
    assert [c["due"] for body in again for c in body["checks"]] == [looks[0]["due"]]
    pass_looks(handler, again, due + timedelta(seconds=1), drain_on_rebalance=True)
    pass_looks(handler, again, due + timedelta(seconds=2), drain_on_rebalance=True)  # delivered twice

    # Then it is back on both ports, with one `restored` alert
    assert b.registered(arn) == before
    assert outcomes(handler.alerts()) == [Outcome.RESTORED]


def test_a_rebalance_drain_followed_by_a_warning_is_not_put_back(handler):
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1")
    deliver(handler, rebalance(instance.instance_id), drain_on_rebalance=True)
    looks = [c for body in due_looks(handler) for c in body["checks"] if c["kind"] == "restore"]
    deliver(handler, warning(instance.instance_id), drain_on_rebalance=True)
    due_looks(handler)  # the warning's own looks, if any

    body = {"source": "spot-interruption-handler", "detail-type": "Drain follow-up", "checks": looks}
    due = datetime.fromisoformat(looks[0]["due"])
    pass_looks(handler, [body], due + timedelta(seconds=1), drain_on_rebalance=True)

    assert b.registered(arn) == []
    assert Outcome.RESTORED not in outcomes(handler.alerts())


# ---- under faults ---------------------------------------------------------------------------------------------------


def test_a_restore_elb_throttles_is_tried_again_by_a_look_until_everything_is_back(handler, monkeypatch):
    # Given a stopped-then-resumed instance in two target groups, and ELB throttling every RegisterTargets of one of
    # them past botocore's retries
    no_backoff(monkeypatch)
    b = handler.builder
    web = b.target_group("web", delay=30)
    api = b.target_group("api", delay=30)
    instance = b.spot_instance("web-1", tags={"TargetGroupArn": f"{web},{api}"})
    b.register(web, [instance.instance_id], ports=[80])
    b.register(api, [instance.instance_id], ports=[8443])
    deliver(handler, warning(instance.instance_id, "spot-interruption-stop.json"))
    b.interrupt_spot(instance.instance_id, "stop")
    b.resume(instance.instance_id)
    outage = {"on": True}
    FaultInjector(
        [
            Fault(
                "elastic-load-balancing-v2",
                "RegisterTargets",
                "throttle",
                active=lambda: outage["on"],
                only_if=lambda request: "targetgroup/api/" in request.get("body", ""),
            )
        ]
    ).install(handler.clients.elbv2)
    handler.alerts()

    # When its running notice arrives
    deliver(handler, state_change(instance.instance_id, "running"))

    # Then what could be put back is, and the alert names what failed and that it is tried again
    assert b.registered(web) == [f"{instance.instance_id}:80"]
    assert b.registered(api) == []
    [first] = handler.alerts()
    assert first.document["outcome"] == Outcome.RESTORED
    assert any("Throttl" in f for f in first.document["failures"])
    assert any("tried again" in f for f in first.document["failures"])
    [retry] = [c for body in due_looks(handler) for c in body["checks"] if c["kind"] == "restore"]

    # When ELB answers again and the look comes
    outage["on"] = False
    body = {"source": "spot-interruption-handler", "detail-type": "Drain follow-up", "checks": [retry]}
    pass_looks(handler, [body], datetime.fromisoformat(retry["due"]) + timedelta(seconds=1))

    # Then the rest is back too, with a second `restored` alert listing it
    assert b.registered(api) == [f"{instance.instance_id}:8443"]
    [second] = handler.alerts()
    assert second.document["outcome"] == Outcome.RESTORED
    assert [r["port"] for r in second.document["restored"]["registrations"]] == [8443]


def test_a_sweep_ec2_throttles_is_made_good_by_the_next_one(handler, monkeypatch):
    no_backoff(monkeypatch)
    b = handler.builder
    arn, instance = b.instance_in_target_group("web", "web-1")
    b.interrupt_spot(instance.instance_id, "stop")
    outage = {"on": True}
    FaultInjector([Fault("ec2", "DescribeInstances", "throttle", active=lambda: outage["on"])]).install(
        handler.clients.ec2
    )

    throttled = handler.invoke(sweep_event())
    assert handler.alerts() == [] and throttled.sweep.failures
    outage["on"] = False
    handler.invoke(sweep_event())

    assert outcomes(handler.alerts()) == [Outcome.MISSED]
    assert b.registered(arn) == []
