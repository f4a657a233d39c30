"""The benchmark harness on a tiny scenario, so it cannot rot. Asserts on outcomes, never on timings."""

from __future__ import annotations

import re

from bench.harness import main

RESULT = re.compile(
    r"^RESULT api_calls_ours=(\d+) api_calls_baseline=(\d+) ratio=([\d.]+) missed_ours=(\d+) "
    r"missed_baseline=(\d+) p95_ours_s=([\d.]+|inf) p95_baseline_s=([\d.]+|inf)$"
)


def test_tiny_mass_reclaim_drains_everything_with_fewer_calls(capsys, tmp_path):
    # Given 20 Spot instances: 12 in 2 target groups (one instance-type, one ip-type), 4 ECS container instances
    # in 2 clusters, 4 behind 4 Classic Load Balancers; interrupted within 2 s, with no injected latency (the ELB
    # token bucket stays on)
    chart = tmp_path / "chart.png"

    # When the harness runs both designs against the same moto-backed account
    assert (
        main(
            [
                "--instances",
                "20",
                "--target-groups",
                "2",
                "--ecs-instances",
                "4",
                "--classic-instances",
                "4",
                "--window",
                "2",
                "--no-latency",
                "--no-cold-start",
                "--chart",
                str(chart),
            ]
        )
        == 0
    )

    # Then its last line is the RESULT line, every instance was deregistered in time by both designs,
    # ours made fewer calls, its idempotency claims (as deployed) among them, and the chart was drawn
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    match = RESULT.match(last)
    assert match, last
    ours, baseline, ratio, missed_ours, missed_baseline = match.groups()[:5]
    assert int(missed_ours) == 0 and int(missed_baseline) == 0
    assert int(ours) < int(baseline) and float(ratio) > 1
    assert re.search(r"dynamodb:TransactWriteItems +[1-9]", out) and "idempotency claims in DynamoDB table" in out
    assert out.count("still registered after the run: 0") == 2
    assert out.count("(20/20 deregistered)") == 2
    assert chart.stat().st_size > 0
