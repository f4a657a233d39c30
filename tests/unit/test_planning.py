"""Which target groups and GameLift resources a notice leads to: pure logic, no AWS."""

from __future__ import annotations

from dataclasses import replace

from spot_handler.models import InstanceFacts
from spot_handler.planning import needs_checkpoint, plan_interruption, split_tag_value
from spot_handler.settings import Settings, settings_from
from spot_handler.signals import parse_notice

from tests.support.events import load_event

TG_A = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef"
TG_B = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/api/fedcba9876543210"
TG_C = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/asg/00000000000000aa"
SETTINGS = Settings(alert_topic_arn="arn:aws:sns:us-east-2:123456789012:alerts")


def instance(**tags) -> InstanceFacts:
    return InstanceFacts("i-0a1b2c3d4e5f60001", "running", "c6g.large", "us-east-2a", ("10.0.0.1",), tags, "spot")


def notice(name="spot-interruption-instance-tg.json"):
    return parse_notice(load_event(name))


def test_tag_values_split_on_commas_and_whitespace():
    assert split_tag_value(f" {TG_A},{TG_B}\n {TG_C} ") == [TG_A, TG_B, TG_C]
    assert split_tag_value("") == []


def test_tag_alias_and_asg_target_groups_are_merged_without_duplicates():
    facts = instance(
        TargetGroupArn=f"{TG_A} {TG_B}", loadBalancerTargetGroup=TG_A, **{"aws:autoscaling:groupName": "g"}
    )

    plan = plan_interruption(notice(), facts, {"g": [TG_C, TG_B]}, SETTINGS)

    assert plan.target_group_arns == [TG_A, TG_B, TG_C]
    assert plan.drain


def test_custom_tag_key_replaces_the_default_but_the_alias_still_counts():
    settings = replace(SETTINGS, target_group_tag_key="drain-from")
    facts = instance(**{"drain-from": TG_A, "TargetGroupArn": TG_B, "loadBalancerTargetGroup": TG_C})

    plan = plan_interruption(notice(), facts, {}, settings)

    assert plan.target_group_arns == [TG_A, TG_C]


def test_values_that_are_not_target_group_arns_are_reported_not_called():
    facts = instance(TargetGroupArn=f"{TG_A}, my-web-tg, arn:aws:sns:us-east-2:123456789012:topic")

    plan = plan_interruption(notice(), facts, {}, SETTINGS)

    assert plan.target_group_arns == [TG_A]
    assert plan.rejected_tag_values == ["my-web-tg", "arn:aws:sns:us-east-2:123456789012:topic"]


def test_scope_tag_ignores_instances_without_it_and_unknown_instances():
    settings = replace(SETTINGS, scope_tag_key="spot-handler")

    assert plan_interruption(notice(), instance(TargetGroupArn=TG_A), {}, settings).ignored_reason
    assert plan_interruption(notice(), None, {}, settings).ignored_reason
    assert plan_interruption(notice(), instance(**{"spot-handler": ""}), {}, settings).ignored_reason is None


def test_rebalance_drains_only_when_configured():
    rebalance = notice("rebalance-recommendation.json")
    facts = instance(TargetGroupArn=TG_A)

    assert not plan_interruption(rebalance, facts, {}, SETTINGS).drain
    assert plan_interruption(rebalance, facts, {}, replace(SETTINGS, drain_on_rebalance=True)).drain


def test_gamelift_tags_and_default_compute_name():
    fleet = plan_interruption(notice(), instance(GameLiftFleetId="fleet-1"), {}, SETTINGS)
    named = plan_interruption(notice(), instance(GameLiftFleetId="fleet-1", GameLiftComputeName="box-7"), {}, SETTINGS)
    fleetiq = plan_interruption(notice(), instance(GameLiftGameServerGroup="arena"), {}, SETTINGS)

    assert (fleet.gamelift_fleet_id, fleet.gamelift_compute_name) == ("fleet-1", "i-0a1b2c3d4e5f60001")
    assert named.gamelift_compute_name == "box-7"
    assert fleetiq.game_server_group == "arena"
    assert needs_checkpoint(fleet) and needs_checkpoint(fleetiq)
    assert not needs_checkpoint(plan_interruption(notice(), instance(), {}, SETTINGS))


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
