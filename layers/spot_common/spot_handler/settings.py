"""The function's configuration: environment variables validated once, at the first invocation."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_VARIABLE = "environment variable"  # a step setting's field metadata: the variable that sets it


class InvalidSettings(ValueError):
    """An environment variable the template sets has a value the function cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    alert_topic_arn: str = ""  # required: checked below, with a message naming the variable
    dead_letter_queue_url: str = ""
    # What an instance's Auto Scaling group has attached (target groups, Classic Load Balancers) is drained too.
    discover_asg_target_groups: bool = True
    # A deregistration delay (connection draining timeout) longer than this is lowered to it; None: never changed.
    max_deregistration_delay: int | None = 120
    drain_on_rebalance: bool = False
    scope_tag_key: str = ""
    idempotency_table_name: str = ""
    lifecycle_hook_name: str = "spot-interruption-drain"  # terminate lifecycle actions of other hooks are not ours
    notice_queue_url: str = ""  # where follow-ups go (delayed messages on the notice queue); empty: none
    # The event source's MaximumBatchingWindowInSeconds: a follow-up due at T reaches the function by T + this, so
    # looks that must happen before a deadline or a hook's timeout are scheduled this much earlier.
    notice_batching_window: int = 0
    # The lone-notice queue (spot_handler/lanes.py): a batch from it is acted on only when it holds one notice.
    lone_notice_queue_url: str = ""
    # Hub and spoke (docs/organization.md). Both empty: single account, every notice acted on with the function's
    # own credentials, as before. Otherwise notices of other accounts are acted on through their member role.
    hub_account_id: str = ""  # the function's own account (the template's AWS::AccountId): no STS call to learn it
    member_account_ids: str = ""  # comma-separated accounts whose notices the hub acts on
    organization_id: str = ""  # every account of the organization: the hub bus's policy admits nothing else
    member_role_name: str = "SpotInterruptionHandlerMember"
    partition: str = "aws"
    # Every alert is also put on this event bus (alerting/events.py); empty: none. The template's default is the
    # account's default bus.
    alert_event_bus_name: str = ""
    # What each interruption drained, kept for restore and the reconciliation sweep (incidents/); empty: none kept.
    incident_table_name: str = ""
    restore_drained_instances: bool = True  # put back what a drain took away when the instance runs again (restore/)
    restore_after_rebalance_minutes: int = 30  # a rebalance-only drain no interruption followed is put back then
    # Each step's own settings (its tag keys, its switches): a frozen dataclass beside the step (steps/*.py) whose
    # fields are made with `variable`, read from the environment with these (settings_from). A step whose settings
    # are not here runs with their defaults (`step`).
    steps: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not self.alert_topic_arn:
            raise InvalidSettings("ALERT_TOPIC_ARN is empty: the function has nowhere to send alerts")
        if self.organization_mode and not self.hub_account_id:
            raise InvalidSettings("HUB_ACCOUNT_ID is empty: with member accounts the hub must know its own account")
        cap = self.max_deregistration_delay
        if cap is not None and not 0 <= cap <= 3600:
            raise InvalidSettings(f"MAX_DEREGISTRATION_DELAY_SECONDS must be 0 to 3600 or off, not {cap}")
        if not 1 <= self.restore_after_rebalance_minutes <= 1440:
            raise InvalidSettings(
                f"RESTORE_AFTER_REBALANCE_MINUTES must be 1 to 1440, not {self.restore_after_rebalance_minutes}"
            )
        if not 0 <= self.notice_batching_window <= 300:
            raise InvalidSettings(f"NOTICE_BATCHING_WINDOW_SECONDS must be 0 to 300, not {self.notice_batching_window}")

    @property
    def organization_mode(self) -> bool:
        return bool(self.organization_id or self.member_accounts)

    @property
    def member_accounts(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.member_account_ids.split(",") if a.strip())

    def why_not_accepted(self, account: str) -> str | None:
        """None when the hub acts on notices of `account`; otherwise why not, for the dead-letter queue.

        With an organization, any account is accepted: only the organization's accounts can put events on the hub
        bus (its policy's aws:PrincipalOrgID condition), and the member role must exist there for anything to
        happen. A notice that reached the queue some other way still finds no role it can use outside the org.
        """
        if not self.organization_mode or account in (self.hub_account_id, "unknown"):
            return None
        if self.organization_id or account in self.member_accounts:
            return None
        return (
            f"account {account} is neither the hub's ({self.hub_account_id or 'unknown'}) nor a member "
            "(MemberAccountIds, OrganizationId): not acted on"
        )

    def step(self, kind: type[T]) -> T:
        """The settings of one step (`kind`: its settings class): as read from the environment, or its defaults."""
        for settings in self.steps:
            if type(settings) is kind:
                return settings
        return kind()

    def with_steps(self, *step_settings: Any) -> Settings:
        """These settings with `step_settings` in place of those of the same steps (the last of a step's counts)."""
        by_step = {type(s): s for s in (*self.steps, *step_settings)}
        return dataclasses.replace(self, steps=tuple(by_step.values()))


def variable(name: str, default: Any) -> Any:
    """A field of a step's settings class, set by the environment variable `name` (empty: `default`)."""
    return dataclasses.field(default=default, metadata={_VARIABLE: name})


_ENV = {
    "alert_topic_arn": "ALERT_TOPIC_ARN",
    "dead_letter_queue_url": "DEAD_LETTER_QUEUE_URL",
    "discover_asg_target_groups": "DISCOVER_ASG_TARGET_GROUPS",
    "max_deregistration_delay": "MAX_DEREGISTRATION_DELAY_SECONDS",
    "drain_on_rebalance": "DRAIN_ON_REBALANCE",
    "scope_tag_key": "SCOPE_TAG_KEY",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
    "lifecycle_hook_name": "LIFECYCLE_HOOK_NAME",
    "notice_queue_url": "NOTICE_QUEUE_URL",
    "notice_batching_window": "NOTICE_BATCHING_WINDOW_SECONDS",
    "lone_notice_queue_url": "LONE_NOTICE_QUEUE_URL",
    "hub_account_id": "HUB_ACCOUNT_ID",
    "member_account_ids": "MEMBER_ACCOUNT_IDS",
    "organization_id": "ORGANIZATION_ID",
    "member_role_name": "MEMBER_ROLE_NAME",
    "partition": "AWS_PARTITION",
    "alert_event_bus_name": "ALERT_EVENT_BUS_NAME",
    "incident_table_name": "INCIDENT_TABLE_NAME",
    "restore_drained_instances": "RESTORE_DRAINED_INSTANCES",
    "restore_after_rebalance_minutes": "RESTORE_AFTER_REBALANCE_MINUTES",
}


def settings_from(environ: dict[str, str], step_settings: Iterable[type] = ()) -> Settings:
    """Build settings from an environment mapping; empty values mean the default. `step_settings`: the steps' settings
    classes, read from the same mapping. Raises InvalidSettings."""
    types = {f.name: f.type for f in dataclasses.fields(Settings)}
    values: dict[str, object] = {}
    for name, variable in _ENV.items():
        raw = environ.get(variable, "").strip()
        if raw:
            values[name] = _convert(variable, raw, types[name])
    values["steps"] = tuple(_step_settings(kind, environ) for kind in step_settings)
    return Settings(**values)


def variables_read(step_settings: Iterable[type] = ()) -> set[str]:
    """The environment variables settings_from reads, with those of `step_settings` (template.yaml sets each)."""
    return set(_ENV.values()) | {
        f.metadata[_VARIABLE] for kind in step_settings for f in dataclasses.fields(kind) if _VARIABLE in f.metadata
    }


def _step_settings(kind: type, environ: dict[str, str]) -> Any:
    values = {}
    for f in dataclasses.fields(kind):
        variable = f.metadata.get(_VARIABLE)
        raw = environ.get(variable, "").strip() if variable else ""
        if raw:
            values[f.name] = _convert(variable, raw, f.type if isinstance(f.type, str) else f.type.__name__)
    return kind(**values)


def _convert(variable: str, raw: str, kind: str) -> object:
    if kind == "bool":
        if raw.lower() not in ("true", "false"):
            raise InvalidSettings(f"{variable} must be true or false, not {raw!r}")
        return raw.lower() == "true"
    if kind == "int | None" and raw.lower() == "off":
        return None
    if kind in ("int", "int | None"):
        try:
            return int(raw)
        except ValueError:
            raise InvalidSettings(f"{variable} must be a whole number of seconds, not {raw!r}") from None
    return raw


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    from spot_handler.flow import STEPS  # flow reads this module: the steps are known once it is loaded

    kinds = dict.fromkeys(step.settings for step in STEPS if getattr(step, "settings", None) is not None)
    return settings_from(dict(os.environ), kinds)
