"""The handler's records (spot_handler/models.py) beyond parsing (test_notice_parsing.py): what they derive."""

from __future__ import annotations

from spot_handler.models import InstanceFacts, TargetGroupDrain
from spot_handler.signals import SIGNALS, capacity_reservation, parse_notice, rebalance, spot_warning

from tests.support.events import load_event

TG = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web-tier/0123456789abcdef"


def test_every_kind_has_a_label_for_the_alert():
    labels = {signal.KIND: signal.KIND.label for signal in SIGNALS}

    assert all(isinstance(label, str) and label for label in labels.values())
    assert labels[spot_warning.KIND] == "Spot interruption"
    assert labels[rebalance.KIND] == "Rebalance recommendation"
    assert labels[capacity_reservation.KIND] == "Capacity Reservation interruption"


def test_a_resend_and_a_re_notice_share_the_interruption_key_and_a_rebalance_does_not():
    first = parse_notice(load_event("spot-interruption-instance-tg.json"))
    re_notice = parse_notice({**load_event("spot-interruption-instance-tg.json"), "id": "another-id"})
    rebalance = parse_notice(load_event("rebalance-recommendation.json", first.instance_id))

    assert first.interruption_key == re_notice.interruption_key
    assert first.instance_id in first.interruption_key
    assert rebalance.interruption_key != first.interruption_key


def test_only_a_rebalance_recommendation_is_not_an_interruption():
    kinds = {
        name: parse_notice(load_event(name)).is_interruption
        for name in (
            "spot-interruption-instance-tg.json",
            "capacity-reservation-interruption.json",
            "rebalance-recommendation.json",
        )
    }

    assert kinds == {
        "spot-interruption-instance-tg.json": True,
        "capacity-reservation-interruption.json": True,
        "rebalance-recommendation.json": False,
    }


def test_action_labels_say_what_happens_to_the_instance():
    labels = [
        parse_notice(load_event(name)).action_label
        for name in (
            "spot-interruption-stop.json",
            "spot-interruption-hibernate.json",
            "spot-interruption-instance-tg.json",
            "rebalance-recommendation.json",
        )
    ]

    assert labels == ["stop", "hibernate", "terminate", "rebalance recommended (no interruption yet)"]


def test_instance_facts_read_the_name_and_auto_scaling_group_from_tags():
    tagged = InstanceFacts(
        "i-0a1b2c3d4e5f60001",
        "running",
        "c6g.large",
        "us-east-2a",
        ("10.0.0.1",),
        {"Name": "web-1", "aws:autoscaling:groupName": "web-asg"},
    )
    bare = tagged._replace(tags={})

    assert (tagged.name, tagged.auto_scaling_group, tagged.lifecycle) == ("web-1", "web-asg", "on-demand")
    assert (bare.name, bare.auto_scaling_group) == (None, None)


def test_a_target_group_drain_is_named_by_its_arn_and_ok_until_it_has_an_error():
    drain = TargetGroupDrain(TG)
    odd = TargetGroupDrain("not-an-arn", error="DeregisterTargets AccessDenied: not allowed")

    assert (drain.name, drain.ok) == ("web-tier", True)
    assert (odd.name, odd.ok) == ("not-an-arn", False)
