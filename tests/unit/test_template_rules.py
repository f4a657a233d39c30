"""The EventBridge rules route exactly the signals the handler parses (signals/), in the hub, on the hub's bus and in
a member account: a new signal's module without its rule pattern (or a pattern without its module) fails here."""

from __future__ import annotations

import pytest
from samtranslator.yaml_helper import yaml_parse
from spot_handler.signals import SIGNALS

from tests.support.template import ROOT


def rules(path: str, bus: str | None = None) -> list[dict]:
    """The event patterns of the template's rules on the account's default bus (bus None) or on the hub's bus."""
    resources = yaml_parse((ROOT / path).read_text())["Resources"]
    found = []
    for resource in resources.values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        on_hub_bus = "EventBusName" in resource["Properties"]
        if on_hub_bus == (bus == "hub"):
            found.append(resource["Properties"]["EventPattern"])
    return found


def routed(patterns: list[dict]) -> set[tuple[str, str]]:
    return {(source, detail_type) for p in patterns for source in p["source"] for detail_type in p["detail-type"]}


SIGNALLED = {(signal.KIND.source, signal.KIND.value) for signal in SIGNALS}


@pytest.mark.parametrize(
    ("path", "bus"), [("template.yaml", None), ("template.yaml", "hub"), ("member/template.yaml", None)]
)
def test_the_rules_route_exactly_the_signals_the_handler_parses(path, bus):
    assert routed(rules(path, bus)) == SIGNALLED


@pytest.mark.parametrize(
    ("path", "bus"), [("template.yaml", None), ("template.yaml", "hub"), ("member/template.yaml", None)]
)
def test_one_rule_per_event_pattern(path, bus):
    # EC2's interruption signals share a pattern; the lifecycle action filters on the hook's name (another pattern)
    patterns = rules(path, bus)
    shapes = [(tuple(p["source"]), tuple(sorted(k for k in p if k not in ("source", "detail-type")))) for p in patterns]
    assert len(shapes) == len(set(shapes)), shapes


def rule_names(value) -> set[str]:
    """The resources a policy value names by !GetAtt X.Arn (inside !If too)."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return {name for inner in value.values() for name in rule_names(inner)}
    if isinstance(value, list):
        return {name for inner in value for name in rule_names(inner)}
    return set()


def test_every_rule_that_targets_the_notice_queue_may_send_to_it():
    # A rule missing from the queue policy delivers nothing, and says so nowhere but in a CloudWatch metric.
    resources = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    targeting = {
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Events::Rule"
        for target in resource["Properties"]["Targets"]
        if target["Arn"] == {"Fn::GetAtt": ["NoticeQueue", "Arn"]}
    }
    [statement] = [
        s
        for s in resources["NoticeQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] == "InterruptionRulesSendNotices"
    ]
    allowed = rule_names(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert targeting and targeting == allowed
