"""The function's configuration (spot_handler/settings.py): environment strings to validated settings.

Conversion errors and the required topic are in test_planning.py's settings tests; these cover the rest."""

from __future__ import annotations

import pytest
from spot_handler.settings import BLOG_SAMPLE_TAG_KEY, Settings, get_settings, settings_from

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
            "CHECKPOINT_TABLE_NAME": "checkpoints",
            "IDEMPOTENCY_TABLE_NAME": "idempotency",
        }
    )

    assert settings.alert_topic_arn == TOPIC  # surrounding white space is not part of a value
    assert settings.dead_letter_queue_url.endswith("/notices-dlq")
    assert (settings.discover_asg_target_groups, settings.max_deregistration_delay) == (False, None)
    assert settings.drain_on_rebalance is True
    assert (settings.scope_tag_key, settings.checkpoint_table_name, settings.idempotency_table_name) == (
        "SpotHandler",
        "checkpoints",
        "idempotency",
    )


def test_the_blog_sample_tag_key_is_always_read_too_and_never_twice():
    assert Settings(alert_topic_arn=TOPIC).target_group_tag_keys == ("TargetGroupArn", BLOG_SAMPLE_TAG_KEY)
    assert Settings(alert_topic_arn=TOPIC, target_group_tag_key="Targets").target_group_tag_keys == (
        "Targets",
        BLOG_SAMPLE_TAG_KEY,
    )
    assert Settings(alert_topic_arn=TOPIC, target_group_tag_key=BLOG_SAMPLE_TAG_KEY).target_group_tag_keys == (
        BLOG_SAMPLE_TAG_KEY,
    )


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
    from spot_handler.settings import InvalidSettings

    assert (
        settings_from({"ALERT_TOPIC_ARN": TOPIC, "NOTICE_BATCHING_WINDOW_SECONDS": "10"}).notice_batching_window == 10
    )
    assert Settings(alert_topic_arn=TOPIC).notice_batching_window == 0  # local runs: handed over at once
    for bad in ("301", "-1"):
        with pytest.raises(InvalidSettings, match="NOTICE_BATCHING_WINDOW_SECONDS must be 0 to 300"):
            settings_from({"ALERT_TOPIC_ARN": TOPIC, "NOTICE_BATCHING_WINDOW_SECONDS": bad})
