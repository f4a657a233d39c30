"""Terminate lifecycle hooks, drain follow-ups and one incident per instance, against a moto account.

moto has no draining phase and no lifecycle actions: local/moto_fidelity.py adds both (a deregistered target drains
for its delay; CompleteLifecycleAction and RecordLifecycleActionHeartbeat are recorded per token), so the tests
assert on that state: what is still draining, which token was completed with which result, how many heartbeats.
Follow-ups are delayed messages on the notice queue; the tests take them out of moto's queue when they choose, as
if their delay had passed, and hand them to the handler the way the event source mapping would.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from spot_handler.invocation import handle_invocation

from local import moto_fidelity
from tests.support.events import load_event
from tests.support.followups import (
    IDEMPOTENCY_TABLE,
    completions,
    fleet_with_hook,
    follow_ups,
    lifecycle_event,
    now_iso,
    spot_event,
)

HOOK = "spot-interruption-drain"
LIFECYCLE = "lifecycle-terminate.json"
SPOT = "spot-interruption-instance-tg.json"


def invoke(account, *events, **settings):
    batch = {"Records": [{"messageId": f"m-{i}", "body": json.dumps(e)} for i, e in enumerate(events)]}
    return handle_invocation(batch, account.clients, account.settings(**settings))


def test_a_terminate_hook_drains_then_completes_only_after_the_targets_left_draining(account):
    # Given an Auto Scaling group with the handler's terminate hook, its instances in the group's target group
    arn, victim, bystander = fleet_with_hook(account)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]

    # When the lifecycle action arrives
    report = invoke(account, event)

    # Then the instance is draining out of the group's target group, and the action is not completed yet
    assert account.builder.registered(arn) == [f"{bystander}:80"]
    assert account.builder.target_states(arn)[f"{victim}:80"] == "draining"
    assert token not in completions()
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert alert.document["lifecycleAction"]["completed"] is False
    assert alert.document["lifecycleAction"]["autoScalingGroup"] == "web-asg"
    assert report.batch_item_failures == []

    # When its follow-up comes back while the target is still draining
    [follow_up] = follow_ups(account)
    invoke(account, follow_up)

    # Then it is still not completed, and it looks again later
    assert token not in completions()
    [again] = follow_ups(account)
    assert again["checks"][0]["token"] == token

    # When the drain has finished by the next look
    moto_fidelity.end_draining()
    invoke(account, again)

    # Then the action is completed with CONTINUE and its token, and nothing more is scheduled
    assert completions()[token] == {
        "group": "web-asg",
        "hook": HOOK,
        "instance": victim,
        "heartbeats": 0,
        "result": "CONTINUE",
    }
    assert follow_ups(account) == []
    assert len(account.alerts()) == 0  # no second alert for a lifecycle completion


def test_a_drain_that_outlives_the_heartbeat_timeout_is_kept_alive_by_heartbeats(account):
    # Given a hook with the shortest heartbeat timeout and a long deregistration delay
    arn, victim, _ = fleet_with_hook(account, heartbeat_timeout=30, delay=600)
    event = lifecycle_event(victim, "web-asg", seconds_ago=10)
    token = event["detail"]["LifecycleActionToken"]

    # When the action arrives and its follow-ups come back while the target still drains
    invoke(account, event)
    for _ in range(3):
        [follow_up] = follow_ups(account)
        invoke(account, follow_up)

    # Then the first handling and each look recorded a heartbeat (the next look would come after the 30 s timeout)
    # and none completed the action
    assert completions()[token]["heartbeats"] == 4
    assert "result" not in completions()[token]
    assert account.builder.target_states(arn)[f"{victim}:80"] == "draining"


def test_the_hook_is_completed_when_its_time_is_about_to_run_out_even_if_still_draining(account):
    # Given a lifecycle action whose hook (heartbeat 30 s: at most 3,000 s in all) is nearly out of time
    _, victim, _ = fleet_with_hook(account, heartbeat_timeout=30, delay=600)
    event = lifecycle_event(victim, "web-asg", seconds_ago=2_980)
    token = event["detail"]["LifecycleActionToken"]

    # When it is handled
    invoke(account, event)

    # Then it is completed at once rather than left to time out before the next look
    assert completions()[token]["result"] == "CONTINUE"
    assert follow_ups(account) == []


@pytest.mark.parametrize("destination", ["WarmPool", "EC2"])
def test_warm_pool_and_plain_terminations_are_drained_and_completed_and_the_alert_says_where(account, destination):
    # Given an instance that goes to the warm pool (or is terminated) and was registered nowhere
    b = account.builder
    [victim, _] = b.auto_scaling_group("pool-asg", [], size=2)
    b.lifecycle_hook("pool-asg", HOOK)
    event = lifecycle_event(victim, "pool-asg", Destination=destination, Origin="AutoScalingGroup")

    # When its lifecycle action arrives
    invoke(account, event)

    # Then it is completed at once (nothing to wait for), and the alert says where the instance goes
    assert completions()[event["detail"]["LifecycleActionToken"]]["result"] == "CONTINUE"
    [alert] = account.alerts()
    where = "back to the group's warm pool" if destination == "WarmPool" else "terminated"
    assert alert.document["lifecycleAction"]["instanceGoes"] == where
    [(_, body)] = account.email_texts()
    assert where in body


def test_a_hook_for_an_instance_already_gone_is_completed(account):
    b = account.builder
    [victim, _] = b.auto_scaling_group("gone-asg", [], size=2)
    b.lifecycle_hook("gone-asg", HOOK)
    b.terminate(victim)
    event = lifecycle_event(victim, "gone-asg")

    invoke(account, event)

    assert completions()[event["detail"]["LifecycleActionToken"]]["result"] == "CONTINUE"
    [alert] = account.alerts()
    assert alert.document["outcome"] == "already-terminated"
    assert "already gone" in " ".join(account.email_texts()[0][1].split())


def test_a_hook_of_another_name_is_left_to_its_owner(account):
    # Given an instance in a target group, and a lifecycle action of a hook another tool owns
    arn, victim, bystander = fleet_with_hook(account)
    event = lifecycle_event(victim, "web-asg", LifecycleHookName="another-tools-hook")

    # When it reaches the handler anyway (the rule filters it out; a direct invocation does not)
    report = invoke(account, event)

    # Then nothing is drained, completed or alerted
    assert sorted(account.builder.registered(arn)) == sorted([f"{victim}:80", f"{bystander}:80"])
    assert completions() == {}
    assert account.alerts() == []
    assert report.batch_item_failures == []


@pytest.mark.parametrize("order", ["spot-first", "lifecycle-first"])
@pytest.mark.parametrize("batches", ["one batch", "two batches"])
def test_a_spot_warning_and_a_lifecycle_action_of_one_instance_make_one_alert(account, order, batches):
    # Given an instance of a group with the hook, in the group's target group (Capacity Rebalancing: the group
    # calls the hook on the Spot warning)
    arn, victim, bystander = fleet_with_hook(account)
    table = {
        "idempotency_table_name": account.builder.idempotency_table(IDEMPOTENCY_TABLE)
    }  # one incident across invocations: the table
    spot, lifecycle = spot_event(victim), lifecycle_event(victim, "web-asg")
    events = [spot, lifecycle] if order == "spot-first" else [lifecycle, spot]
    deregistrations = []
    account.clients.elbv2.meta.events.register(
        "before-call.*.DeregisterTargets", lambda **kw: deregistrations.append(1)
    )

    # When both arrive, in one batch or one after the other
    if batches == "one batch":
        invoke(account, *events, **table)
    else:
        invoke(account, events[0], **table)
        invoke(account, events[1], **table)

    # Then there is one alert, from the first signal, and the instance is out of its target group
    [alert] = account.alerts()
    assert alert.document["detailType"] == events[0]["detail-type"]
    assert account.builder.registered(arn) == [f"{bystander}:80"]
    # nothing drained twice: one invocation drains an instance once, and a later one finds it already draining
    assert len(deregistrations) == 1
    # and the lifecycle action still completes once its target has left draining
    moto_fidelity.end_draining()
    for follow_up in follow_ups(account):
        invoke(account, follow_up, **table)
    assert completions()[lifecycle["detail"]["LifecycleActionToken"]]["result"] == "CONTINUE"
    assert len(account.alerts()) == 0


def test_a_rebalance_recommendation_stays_advice_and_the_spot_warning_after_it_alerts(account):
    _, victim, _ = fleet_with_hook(account)
    rebalance = load_event("rebalance-recommendation.json", victim)

    invoke(account, rebalance)
    invoke(account, spot_event(victim))

    assert [a.document["detailType"] for a in account.alerts()] == [
        "EC2 Instance Rebalance Recommendation",
        "EC2 Spot Instance Interruption Warning",
    ]


def test_a_spot_warning_still_draining_at_its_deadline_gets_a_second_alert(account):
    # Given an instance in a target group whose delay (120 s) outlasts what is left of its two minutes
    b = account.builder
    arn = b.target_group("slow", "instance", delay=120)
    victim = b.spot_instance("slow-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80, 8080])

    # When its warning is handled 60 s after it was sent, with delays left as they are (MaxDeregistrationDelaySeconds
    # off: otherwise the handler lowers a delay that would outlast the instance), and the follow-up looks before the
    # deadline
    invoke(account, spot_event(victim.instance_id, seconds_ago=60), max_deregistration_delay=None)
    [first] = account.alerts()
    [follow_up] = follow_ups(account)
    [check] = follow_up["checks"]
    assert check["kind"] == "deadline"
    invoke(account, follow_up)

    # Then a second alert says the drain is unfinished: which group, how many registrations, the delay in force
    [second] = account.alerts()
    assert first.document["outcome"] == "drained"
    assert second.attributes["outcome"] == "drain-unfinished"
    assert second.document["outcome"] == "drain-unfinished"
    [group] = second.document["targetGroups"]
    assert group["name"] == "slow" and group["stillDrainingCount"] == 2 and group["deregistrationDelaySeconds"] == 120
    assert "drain unfinished" in second.subject and len(second.subject) < 100
    # And it says when the look really happened (here at once; a look may arrive up to the batching window after it
    # was due), not when it was due
    looked = datetime.fromisoformat(second.document["checkedAt"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - looked).total_seconds()) < 10
    left = int((datetime.fromisoformat(second.document["deadline"].replace("Z", "+00:00")) - looked).total_seconds())
    email = " ".join(account.email_texts()[-1][1].split())
    said = int(re.search(r"draining (\d+) s before its deadline", email).group(1))
    assert abs(said - left) <= 1 and said > 30  # when due, it would say 10-20 s


def test_a_spot_warning_whose_drain_finished_in_time_gets_no_second_alert(account):
    b = account.builder
    arn = b.target_group("quick", "instance", delay=120)
    victim = b.spot_instance("quick-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])

    invoke(account, spot_event(victim.instance_id, seconds_ago=60), max_deregistration_delay=None)
    account.alerts()
    moto_fidelity.end_draining()
    [follow_up] = follow_ups(account)
    report = invoke(account, follow_up)

    assert account.alerts() == []
    assert [c.instance_id for c in report.follow_ups.finished_in_time] == [victim.instance_id]


def test_a_delay_that_would_outlast_the_instance_is_lowered_to_end_before_its_deadline(account):
    # Given a target group with a 300 s delay, and a Spot warning handled 30 s after it was sent (90 s left)
    b = account.builder
    arn = b.target_group("long", "instance", delay=300)
    victim = b.spot_instance("long-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])

    invoke(account, spot_event(victim.instance_id, seconds_ago=30))

    # Then the delay ends 10 s before the deadline (not at the 120 s cap, which would outlast the instance), the
    # alert says so, and no follow-up is needed: the drain cannot outlast the instance
    assert 70 <= b.deregistration_delay(arn) <= 80
    [alert] = account.alerts()
    [group] = alert.document["targetGroups"]
    assert group["delayLoweredFromSeconds"] == 300
    assert group["deregistrationDelaySeconds"] == b.deregistration_delay(arn)
    assert follow_ups(account) == []


def test_a_drain_that_certainly_ends_before_the_deadline_needs_no_follow_up(account):
    b = account.builder
    arn = b.target_group("short", "instance", delay=30)
    victim = b.spot_instance("short-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])

    invoke(account, spot_event(victim.instance_id))

    assert follow_ups(account) == []


@pytest.mark.parametrize("window", [0, 10, 30])
def test_a_deadline_look_is_due_early_enough_to_arrive_through_the_batching_window(account, window):
    # Given a Spot warning 60 s old whose 120 s delay outlasts the instance (delays left as they are), and an event
    # source that may hold a follow-up for `window` seconds before handing it over
    b = account.builder
    arn = b.target_group("slow", "instance", delay=120)
    victim = b.spot_instance("slow-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])
    event = spot_event(victim.instance_id, seconds_ago=60)
    deadline = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) + timedelta(seconds=120)

    invoke(account, event, max_deregistration_delay=None, notice_batching_window=window)

    # Then the look is due at least 10 s plus the window before the deadline, within one 10 s grid step of it
    [follow_up] = follow_ups(account)
    [check] = follow_up["checks"]
    due = datetime.fromisoformat(check["due"].replace("Z", "+00:00"))
    lead = (deadline - due).total_seconds()
    assert 10 + window <= lead < 20 + window


def test_a_deadline_look_that_could_not_arrive_before_the_deadline_is_not_sent(account):
    # Given a Spot warning 90 s old (30 s left) and a 30 s batching window: a look could only arrive too late
    b = account.builder
    arn = b.target_group("slow", "instance", delay=120)
    victim = b.spot_instance("slow-1", tags={"TargetGroupArn": arn})
    b.register(arn, [victim.instance_id], ports=[80])

    invoke(
        account,
        spot_event(victim.instance_id, seconds_ago=90),
        max_deregistration_delay=None,
        notice_batching_window=30,
    )

    # Then the instance is drained and alerted, and no follow-up is scheduled
    assert account.builder.target_states(arn)[f"{victim.instance_id}:80"] == "draining"
    [alert] = account.alerts()
    assert alert.document["outcome"] == "drained"
    assert follow_ups(account) == []


@pytest.mark.parametrize(("window", "heartbeats"), [(0, 0), (10, 1)])
def test_a_heartbeat_is_recorded_when_the_next_look_could_arrive_after_the_heartbeat_timeout(
    account, window, heartbeats
):
    # Given a hook with a 60 s heartbeat timeout whose action started 15 s ago (it expires in about 45 s); the next
    # look is due in 30 s and must act 10 s before expiry, so it is in time only if it can arrive at once
    _, victim, _ = fleet_with_hook(account, heartbeat_timeout=60, delay=600)
    event = lifecycle_event(victim, "web-asg", seconds_ago=15)
    token = event["detail"]["LifecycleActionToken"]

    invoke(account, event, notice_batching_window=window)

    # Then a heartbeat is recorded now exactly when the batching window could make the next look late
    recorded = completions().get(token, {})  # an action neither heartbeat nor completed is not recorded at all
    assert recorded.get("heartbeats", 0) == heartbeats
    assert "result" not in recorded
    [follow_up] = follow_ups(account)
    assert follow_up["checks"][0]["token"] == token


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.parametrize(("window", "heartbeats"), [(0, 0), (10, 1)])
def test_a_follow_up_records_a_heartbeat_when_its_next_look_could_arrive_after_the_heartbeat_timeout(
    account, window, heartbeats
):
    # Given a lifecycle action waiting for its drain (60 s heartbeat timeout, so the first handling needs none) and
    # its follow-up, looked at when the heartbeat has about 45 s left
    _, victim, _ = fleet_with_hook(account, heartbeat_timeout=60, delay=600)
    event = lifecycle_event(victim, "web-asg")
    token = event["detail"]["LifecycleActionToken"]
    invoke(account, event)
    assert token not in completions()
    [follow_up] = follow_ups(account)
    follow_up["checks"][0]["heartbeat_expires"] = now_iso(-45)

    # When the follow-up comes back through an event source that may hold the next one for `window` seconds
    invoke(account, follow_up, notice_batching_window=window)

    # Then it keeps the action alive now exactly when the next look (30 s + window + 10 s margin) could be too late
    recorded = completions().get(token, {})
    assert recorded.get("heartbeats", 0) == heartbeats
    assert "result" not in recorded
    [again] = follow_ups(account)
    assert again["checks"][0]["token"] == token


@pytest.mark.parametrize("window", [0, 10])
def test_with_a_heartbeat_timeout_shorter_than_a_look_the_next_look_is_due_in_time_to_arrive_before_it(account, window):
    # Given a hook with the shortest heartbeat timeout Auto Scaling allows (30 s) and a long drain
    _, victim, _ = fleet_with_hook(account, heartbeat_timeout=30, delay=600)
    event = lifecycle_event(victim, "web-asg")

    invoke(account, event, notice_batching_window=window)

    # Then the heartbeat was recorded, and the next look is due early enough to arrive (up to `window` late) 10 s
    # before the renewed heartbeat runs out, rather than 30 s from now
    [follow_up] = follow_ups(account)
    [check] = follow_up["checks"]
    due, expires = _at(check["due"]), _at(check["heartbeat_expires"])
    assert (expires - due).total_seconds() >= window + 10
    assert due >= datetime.now(UTC) - timedelta(seconds=5)
