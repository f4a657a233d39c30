"""The function's configuration: environment variables validated once, at the first invocation."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, Field

BLOG_SAMPLE_TAG_KEY = "loadBalancerTargetGroup"  # key used by the original AWS blog sample, accepted as an alias


class Settings(BaseModel):
    alert_topic_arn: str = Field(min_length=1)
    dead_letter_queue_url: str = ""
    target_group_tag_key: str = "TargetGroupArn"
    discover_asg_target_groups: bool = True
    drain_budget_seconds: int = Field(default=120, ge=0, le=3600)
    lower_deregistration_delay: bool = True
    drain_on_rebalance: bool = False
    scope_tag_key: str = ""
    checkpoint_table_name: str = ""
    idempotency_table_name: str = ""

    @property
    def target_group_tag_keys(self) -> tuple[str, ...]:
        keys = [self.target_group_tag_key]
        if BLOG_SAMPLE_TAG_KEY not in keys:
            keys.append(BLOG_SAMPLE_TAG_KEY)
        return tuple(keys)


_ENV = {
    "alert_topic_arn": "ALERT_TOPIC_ARN",
    "dead_letter_queue_url": "DEAD_LETTER_QUEUE_URL",
    "target_group_tag_key": "TARGET_GROUP_TAG_KEY",
    "discover_asg_target_groups": "DISCOVER_ASG_TARGET_GROUPS",
    "drain_budget_seconds": "DRAIN_BUDGET_SECONDS",
    "lower_deregistration_delay": "LOWER_DEREGISTRATION_DELAY",
    "drain_on_rebalance": "DRAIN_ON_REBALANCE",
    "scope_tag_key": "SCOPE_TAG_KEY",
    "checkpoint_table_name": "CHECKPOINT_TABLE_NAME",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
}


def settings_from(environ: dict[str, str]) -> Settings:
    """Build settings from an environment mapping; empty values mean the default."""
    values = {name: environ[var] for name, var in _ENV.items() if environ.get(var, "") != ""}
    return Settings.model_validate(values)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from(dict(os.environ))
