"""Which target groups and GameLift resources a notice leads to: pure logic, no AWS. Planning decides whether a
notice is acted on and drained; each step plans what it needs of the instance (steps/*.py `plan`)."""

from __future__ import annotations

from dataclasses import replace

from spot_handler.flow import STEPS
from spot_handler.models import InstanceFacts
from spot_handler.planning import attachments, plan_interruption, split_tag_value
from spot_handler.settings import Settings, settings_from
from spot_handler.signals import parse_notice
from spot_handler.steps import classic_elb, ecs, gamelift_checkpoint, target_groups
from spot_handler.steps.gamelift_checkpoint import needs_checkpoint
from spot_handler.steps.target_groups import TargetGroupsSettings

from tests.support.events import load_event

TG_A = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef"
TG_B = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/api/fedcba9876543210"
TG_C = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/asg/00000000000000aa"
SETTINGS = Settings(alert_topic_arn="arn:aws:sns:us-east-2:123456789012:alerts")


def instance(**tags) -> InstanceFacts:
    return InstanceFacts("i-0a1b2c3d4e5f60001", "running", "c6g.large", "us-east-2a", ("10.0.0.1",), tags, "spot")


def notice(name="spot-interruption-instance-tg.json"):
    return parse_notice(load_event(name))


def plan_interruption_of(notice, facts, settings=SETTINGS, attached_target_groups=None):
    """plan_interruption with every step flow.py runs; `attached_target_groups`: {Auto Scaling group: ARNs}."""
    return plan_interruption(notice, facts, attachments(attached_target_groups or {}, {}), settings, STEPS)


def test_tag_values_split_on_commas_and_whitespace():
    assert split_tag_value(f" {TG_A},{TG_B}\n {TG_C} ") == [TG_A, TG_B, TG_C]
    assert split_tag_value("") == []


def test_tag_alias_and_asg_target_groups_are_merged_without_duplicates():
    facts = instance(
        TargetGroupArn=f"{TG_A} {TG_B}", loadBalancerTargetGroup=TG_A, **{"aws:autoscaling:groupName": "g"}
    )

    plan = plan_interruption_of(notice(), facts, attached_target_groups={"g": [TG_C, TG_B]})

    assert target_groups.planned(plan).arns == (TG_A, TG_B, TG_C)
    assert plan.drain


def test_custom_tag_key_replaces_the_default_but_the_alias_still_counts():
    settings = SETTINGS.with_steps(TargetGroupsSettings(tag_key="drain-from"))
    facts = instance(**{"drain-from": TG_A, "TargetGroupArn": TG_B, "loadBalancerTargetGroup": TG_C})

    plan = plan_interruption_of(notice(), facts, settings)

    assert target_groups.planned(plan).arns == (TG_A, TG_C)


def test_values_that_are_not_target_group_arns_are_reported_not_called():
    facts = instance(TargetGroupArn=f"{TG_A}, my-web-tg, arn:aws:sns:us-east-2:123456789012:topic")

    plan = plan_interruption_of(notice(), facts)

    assert target_groups.planned(plan).arns == (TG_A,)
    assert target_groups.planned(plan).rejected == ("my-web-tg", "arn:aws:sns:us-east-2:123456789012:topic")


def test_scope_tag_ignores_instances_without_it_and_unknown_instances():
    settings = replace(SETTINGS, scope_tag_key="spot-handler")

    assert plan_interruption_of(notice(), instance(TargetGroupArn=TG_A), settings).ignored_reason
    assert plan_interruption_of(notice(), None, settings).ignored_reason
    assert plan_interruption_of(notice(), instance(**{"spot-handler": ""}), settings).ignored_reason is None


def test_rebalance_drains_only_when_configured():
    rebalance = notice("rebalance-recommendation.json")
    facts = instance(TargetGroupArn=TG_A)

    assert not plan_interruption_of(rebalance, facts).drain
    assert plan_interruption_of(rebalance, facts, replace(SETTINGS, drain_on_rebalance=True)).drain


def test_gamelift_tags_and_default_compute_name():
    fleet = plan_interruption_of(notice(), instance(GameLiftFleetId="fleet-1"))
    named = plan_interruption_of(notice(), instance(GameLiftFleetId="fleet-1", GameLiftComputeName="box-7"))
    fleetiq = plan_interruption_of(notice(), instance(GameLiftGameServerGroup="arena"))

    on_fleet = gamelift_checkpoint.planned(fleet)
    assert (on_fleet.fleet_id, on_fleet.compute_name) == ("fleet-1", "i-0a1b2c3d4e5f60001")
    assert gamelift_checkpoint.planned(named).compute_name == "box-7"
    assert gamelift_checkpoint.planned(fleetiq).game_server_group == "arena"
    assert needs_checkpoint(fleet) and needs_checkpoint(fleetiq)
    assert not needs_checkpoint(plan_interruption_of(notice(), instance()))


def test_settings_from_environment_strings():
    settings = settings_from(
        {
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-2:123456789012:alerts",
            "DISCOVER_ASG_TARGET_GROUPS": "false",
            "MAX_DEREGISTRATION_DELAY_SECONDS": "90",
            "SCOPE_TAG_KEY": "",
        }
    )

    assert settings.discover_asg_target_groups is False
    assert settings.max_deregistration_delay == 90
    assert settings.scope_tag_key == ""


def test_settings_name_the_variable_that_is_wrong():
    import pytest
    from spot_handler.settings import InvalidSettings

    base = {"ALERT_TOPIC_ARN": "arn:aws:sns:us-east-2:123456789012:alerts"}
    for variable, value, words in [
        ("MAX_DEREGISTRATION_DELAY_SECONDS", "two minutes", "MAX_DEREGISTRATION_DELAY_SECONDS must be a whole number"),
        ("MAX_DEREGISTRATION_DELAY_SECONDS", "7200", "MAX_DEREGISTRATION_DELAY_SECONDS must be 0 to 3600 or off"),
        ("DRAIN_ON_REBALANCE", "yes", "DRAIN_ON_REBALANCE must be true or false"),
    ]:
        with pytest.raises(InvalidSettings, match=words):
            settings_from({**base, variable: value})
    with pytest.raises(InvalidSettings, match="ALERT_TOPIC_ARN is empty"):
        settings_from({})


def test_what_a_step_cannot_use_is_a_problem_of_the_plan_in_step_order_and_nothing_is_planned_with_it():
    facts = instance(
        LoadBalancerName="web-classic, -bad-name-", ECSCluster="not a cluster!", **{"aws:autoscaling:groupName": "g"}
    )
    attached = attachments({}, {"g": ["asg-classic", "web-classic"]})

    plan = plan_interruption(notice(), facts, attached, SETTINGS, STEPS)

    assert classic_elb.planned(plan).names == ("web-classic", "asg-classic")
    assert ecs.planned(plan).cluster is None  # searched for, when discovery is on, as an untagged instance is
    assert plan.problems == [
        "tag value '-bad-name-' is not a Classic Load Balancer name",
        "tag value 'not a cluster!' is not an ECS cluster name or ARN",
    ]


def test_nothing_is_planned_for_an_instance_not_found_or_a_notice_out_of_scope():
    scoped = replace(SETTINGS, scope_tag_key="spot-handler")

    assert plan_interruption_of(notice(), None).by_step == {}
    assert plan_interruption_of(notice(), instance(TargetGroupArn=TG_A), scoped).by_step == {}
    assert target_groups.planned(plan_interruption_of(notice(), None)).arns == ()
