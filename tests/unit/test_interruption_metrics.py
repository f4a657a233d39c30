"""`Interruptions` per capacity pool, as app.record_interruptions writes them (embedded metric format lines).

The same through the entry point, one batch with duplicates, a re-notice, a rebalance and a follow-up, is in
tests/integration/test_operator_channels.py; here the hub's `Account` dimension and what is not counted.
"""

from __future__ import annotations

import json

import pytest
from spot_handler.flow import NoticeResult
from spot_handler.invocation import InvocationReport

from tests.support.emf import interruptions
from tests.support.outcomes import outcome


@pytest.fixture(scope="module")
def app():
    """The handler module. Imported outside any test's capsys: its Logger keeps the stdout it finds at import, and a
    test's captured stdout is closed when the test ends (tests/integration/test_logging.py would log into it)."""
    import app

    return app


def test_a_hub_counts_each_reclaim_once_in_its_account_and_pool(app, capsys):
    spot = outcome(drains=[], instance_type="m5.large", zone="us-east-2b")
    reservation = outcome("capacity-reservation-interruption.json", instance_type="c6g.large")
    lifecycle = outcome("lifecycle-terminate.json")  # may be a scale-in: not a reclaim
    rebalance = outcome("rebalance-recommendation.json", drain=False)  # advice
    refused = outcome("spot-interruption-ip-tg.json")  # its alert did not go out: counted when it does
    not_found = outcome("spot-interruption-unknown-instance.json", found=False)
    report = InvocationReport(
        results=[
            NoticeResult(spot.plan.notice, spot),
            NoticeResult(spot.plan.notice, duplicate=True),  # a later signal of the same incident
            NoticeResult(reservation.plan.notice, reservation),
            NoticeResult(lifecycle.plan.notice, lifecycle),
            NoticeResult(rebalance.plan.notice, rebalance),
            NoticeResult(refused.plan.notice, refused, alert_error="InternalError: injected"),
            NoticeResult(not_found.plan.notice, not_found),
        ]
    )

    try:
        app.record_interruptions(report, by_account=True)
        app.metrics.flush_metrics()
    finally:
        app.metrics.clear_metrics()

    pools, fleet = interruptions(capsys.readouterr().out)
    service = {"service": "spot-interruption-handler", "Account": "123456789012"}
    assert fleet == 3
    assert sorted(pools, key=json.dumps) == sorted(
        [
            {"InstanceType": "m5.large", "AvailabilityZone": "us-east-2b", **service},
            {"InstanceType": "c6g.large", "AvailabilityZone": "us-east-2a", **service},
            {"InstanceType": "unknown", "AvailabilityZone": "unknown", **service},  # the instance was not found
        ],
        key=json.dumps,
    )
