"""The function's configuration (spot_handler/settings.py): environment strings to validated settings.

Conversion errors and the required topic are in test_planning.py's settings tests; these cover the rest."""

from __future__ import annotations

import pytest
from spot_handler.flow import STEPS
from spot_handler.settings import InvalidSettings, Settings, get_settings, settings_from
from spot_handler.steps.classic_elb import ClassicLoadBalancersSettings
from spot_handler.steps.ecs import EcsSettings
from spot_handler.steps.gamelift_checkpoint import GameLiftSettings
from spot_handler.steps.target_groups import BLOG_SAMPLE_TAG_KEY, TargetGroupsSettings

TOPIC = "arn:aws:sns:us-east-2:123456789012:alerts"


def test_empty_or_blank_variables_mean_the_default():
    settings = settings_from({"ALERT_TOPIC_ARN": TOPIC, "TARGET_GROUP_TAG_KEY": "  ", "DRAIN_ON_REBALANCE": ""})

    assert settings == Settings(alert_topic_arn=TOPIC)


def test_every_variable_reaches_its_setting_with_its_type():
    settings = settings_from(
        {
            "ALERT_TOPIC_ARN": f" {TOPIC} ",
            "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-2.amazonaws.com/123456789012/notices-dlq",
            "TARGET_GROUP_TAG_KEY": "LoadBalancerTargets",
            "DISCOVER_ASG_TARGET_GROUPS": "FALSE",
            "MAX_DEREGISTRATION_DELAY_SECONDS": "OFF",
            "DRAIN_ON_REBALANCE": "True",
            "SCOPE_TAG_KEY": "SpotHandler",
            "IDEMPOTENCY_TABLE_NAME": "idempotency",
        }
    )

    assert settings.alert_topic_arn == TOPIC  # surrounding white space is not part of a value
    assert settings.dead_letter_queue_url.endswith("/notices-dlq")
    assert (settings.discover_asg_target_groups, settings.max_deregistration_delay) == (False, None)
    assert settings.drain_on_rebalance is True
    assert (settings.scope_tag_key, settings.idempotency_table_name) == ("SpotHandler", "idempotency")


def test_each_steps_own_variables_reach_its_settings_with_their_type():
    kinds = [TargetGroupsSettings, ClassicLoadBalancersSettings, EcsSettings, GameLiftSettings]
    settings = settings_from(
        {
            "ALERT_TOPIC_ARN": TOPIC,
            "TARGET_GROUP_TAG_KEY": "LoadBalancerTargets",
            "CLASSIC_LOAD_BALANCER_TAG_KEY": "ElbName",
            "ECS_CLUSTER_TAG_KEY": "Cluster",
            "DISCOVER_ECS_CLUSTERS": "False",
            "CHECKPOINT_TABLE_NAME": " checkpoints ",
        },
        kinds,
    )

    assert settings.step(TargetGroupsSettings).tag_key == "LoadBalancerTargets"
    assert settings.step(ClassicLoadBalancersSettings).tag_key == "ElbName"
    assert settings.step(EcsSettings) == EcsSettings(tag_key="Cluster", discover_clusters=False)
    assert settings.step(GameLiftSettings).checkpoint_table_name == "checkpoints"
    # A step whose settings were not read has its defaults, as the template's constants set them
    assert Settings(alert_topic_arn=TOPIC).step(EcsSettings) == EcsSettings(
        tag_key="ECSCluster", discover_clusters=True
    )


def test_a_steps_variable_that_is_wrong_is_named():
    with pytest.raises(InvalidSettings, match="DISCOVER_ECS_CLUSTERS must be true or false, not 'yes'"):
        settings_from({"ALERT_TOPIC_ARN": TOPIC, "DISCOVER_ECS_CLUSTERS": "yes"}, [EcsSettings])


def test_the_function_reads_the_settings_of_every_step_flow_runs(monkeypatch):
    # Given the environment the template sets, with one step's tag key changed
    monkeypatch.setenv("ALERT_TOPIC_ARN", TOPIC)
    monkeypatch.setenv("ECS_CLUSTER_TAG_KEY", "Cluster")
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        get_settings.cache_clear()

    # Then every step's settings were read, that one as the environment says
    declared = {step.settings for step in STEPS if getattr(step, "settings", None)}
    assert {type(s) for s in settings.steps} == declared
    assert declared >= {TargetGroupsSettings, ClassicLoadBalancersSettings, EcsSettings, GameLiftSettings}
    assert settings.step(EcsSettings).tag_key == "Cluster"


def test_the_blog_sample_tag_key_is_always_read_too_and_never_twice():
    assert TargetGroupsSettings().tag_keys == ("TargetGroupArn", BLOG_SAMPLE_TAG_KEY)
    assert TargetGroupsSettings(tag_key="Targets").tag_keys == ("Targets", BLOG_SAMPLE_TAG_KEY)
    assert TargetGroupsSettings(tag_key=BLOG_SAMPLE_TAG_KEY).tag_keys == (BLOG_SAMPLE_TAG_KEY,)


def test_a_steps_settings_given_later_replace_its_earlier_ones_and_leave_the_others():
    settings = Settings(alert_topic_arn=TOPIC).with_steps(EcsSettings(tag_key="A"), GameLiftSettings("table"))

    settings = settings.with_steps(EcsSettings(tag_key="B"))

    assert settings.step(EcsSettings).tag_key == "B"
    assert settings.step(GameLiftSettings).checkpoint_table_name == "table"
    assert len(settings.steps) == 2


def test_settings_are_read_once_per_environment(monkeypatch):
    # Lambda's environment does not change during the life of an execution environment: read it at the first call
    monkeypatch.setenv("ALERT_TOPIC_ARN", TOPIC)
    get_settings.cache_clear()
    try:
        first = get_settings()
        monkeypatch.setenv("ALERT_TOPIC_ARN", TOPIC + "-other")
        assert get_settings() is first
    finally:
        get_settings.cache_clear()


def test_settings_cannot_be_changed_after_validation():
    settings = Settings(alert_topic_arn=TOPIC)

    with pytest.raises(AttributeError):
        settings.alert_topic_arn = ""  # type: ignore[misc]


def test_the_batching_window_is_read_in_seconds_and_held_to_the_event_sources_range():
    assert (
        settings_from({"ALERT_TOPIC_ARN": TOPIC, "NOTICE_BATCHING_WINDOW_SECONDS": "10"}).notice_batching_window == 10
    )
    assert Settings(alert_topic_arn=TOPIC).notice_batching_window == 0  # local runs: handed over at once
    for bad in ("301", "-1"):
        with pytest.raises(InvalidSettings, match="NOTICE_BATCHING_WINDOW_SECONDS must be 0 to 300"):
            settings_from({"ALERT_TOPIC_ARN": TOPIC, "NOTICE_BATCHING_WINDOW_SECONDS": bad})
