"""The benchmark harness on a tiny scenario, so it cannot rot. Asserts on outcomes, never on timings."""

from __future__ import annotations

import re

from bench.harness import main
from local.lambda_runtime import EventSourceMapping

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
                "--quiet",
                "2",
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
    # And the quiet scenario's own RESULT line came before it: both lone notices out of service in time, by both
    quiet = QUIET_RESULT.match(out.strip().splitlines()[-2])
    assert quiet, out.strip().splitlines()[-2]
    assert quiet.group("notices") == "2" and quiet.group("missed_ours") == "0" and quiet.group("missed_baseline") == "0"
    assert out.count("(2/2 deregistered)") == 2
    # each on an idle function, out of service through the lone-notice queue (which left the mass reclaim alone)
    assert re.search(r"LoneNoticeQueue: 2 invocations, batch size min/median/max 1/1/1; 0 left", out)


QUIET_RESULT = re.compile(
    r"^RESULT scenario=quiet notices=(?P<notices>\d+) gap_s=[\d.]+ p50_ours_s=[\d.]+ p95_ours_s=[\d.]+ "
    r"p50_baseline_s=[\d.]+ p95_baseline_s=[\d.]+ calls_per_notice_ours=[\d.]+ calls_per_notice_baseline=[\d.]+ "
    r"missed_ours=(?P<missed_ours>\d+) missed_baseline=(?P<missed_baseline>\d+)$"
)


def test_the_gathering_experiment_still_runs(capsys):
    # Given the tiny target-group fleet, one queue with a 1 s window, and the function gathering for 2 s
    argv = ["--instances", "20", "--target-groups", "2", "--window", "2", "--single-queue", "--batching-window", "1"]

    # When the harness runs it
    assert main([*argv, "--gather", "2", "--no-latency", "--no-cold-start", "--chart", "", "--quiet", "0"]) == 0

    # Then every instance was drained in time, and the function's own receives and deletes were counted
    out = capsys.readouterr().out
    match = RESULT.match(out.strip().splitlines()[-1])
    assert match and match.group(4) == "0", out.strip().splitlines()[-1]
    assert re.search(r"sqs:ReceiveMessage +[1-9]", out) and re.search(r"sqs:DeleteMessageBatch +[1-9]", out)
    assert "RESULT scenario=quiet" not in out


ORG_RESULT = re.compile(
    RESULT.pattern.removesuffix("$") + r" accounts=(\d+) assume_roles=(\d+) assume_role_bound=(\d+)$"
)
DRAINED = re.compile(r"(\d{12}) (\d+)/(\d+) \((-?\d+)\)")


def test_tiny_mass_reclaim_over_three_accounts_drains_every_account_and_bounds_assume_role(capsys):
    # Given 20 Spot instances over 3 accounts (the hub's and two members', each with its own two target groups),
    # interrupted within 2 s, no injected latency; ours is the hub acting through the member roles, the baseline is
    # deployed in every account
    argv = ["--instances", "20", "--target-groups", "6", "--accounts", "3", "--window", "2"]

    # When the harness runs both designs
    assert main([*argv, "--no-latency", "--no-cold-start", "--quiet", "0"]) == 0

    # Then both took every instance out of service in time, in every account, and left none registered
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    match = ORG_RESULT.match(last)
    assert match, last
    missed_ours, missed_baseline = int(match.group(4)), int(match.group(5))
    assert missed_ours == 0 and missed_baseline == 0
    per_design = [DRAINED.findall(line) for line in out.splitlines() if "out of service / instances" in line]
    assert len(per_design) == 2
    for accounts in per_design:
        assert len(accounts) == 3
        assert all(done == total and left == "0" for _, done, total, left in accounts), accounts
        assert sum(int(total) for _, _, total, _ in accounts) == 20
    # And ours assumed each member's role at most once per execution environment: within accounts x environments
    accounts, assume_roles, bound = (int(match.group(i)) for i in (8, 9, 10))
    assert accounts == 3
    # (from counters independent of the harness's own verdict: the environments the event-source model created, the
    # server's AssumeRole count per member account, and the handler's AccountClients' own count)
    environments = int(re.search(r"execution environments created: (\d+)", out).group(1))
    # Lambda creates an environment only when every other one is busy: never more than the invocations the
    # template's event sources may run at once (their MaximumConcurrency summed)
    at_once = sum(m.max_concurrency for m in EventSourceMapping.all_from_template().values())
    assert 1 <= environments <= at_once
    assert bound == (accounts - 1) * environments
    per_member = re.search(r"per member account: ([^;]+);", out).group(1)
    counted = {account: int(n) for account, n in re.findall(r"(\d{12}) (\d+)", per_member)}
    assert len(counted) == accounts - 1  # every member's role assumed, and no AssumeRole into the hub's own account
    assert all(1 <= n <= environments for n in counted.values()), counted
    assert assume_roles == sum(counted.values())
    assert f"AssumeRole sent by the handler's AccountClients: {assume_roles};" in out
    assert "baseline: 0 (deployed in each account" in out and ": holds" in out


def test_unrelated_state_changes_ride_along_with_the_mass_reclaim(capsys):
    # Given the tiny target-group fleet, and 30 state changes no interruption is behind in the same window (half Spot,
    # half On-Demand instances, stopped, terminated or started by their users)
    argv = ["--instances", "20", "--target-groups", "2", "--window", "2", "--state-changes", "30"]

    # When the harness runs
    assert main([*argv, "--no-latency", "--no-cold-start", "--chart", "", "--quiet", "0"]) == 0

    # Then every instance of the reclaim is still out of service in time, and the state changes reached our function
    # (the started Spot instances' incident records read, in one BatchGetItem per batch) but not the baseline
    out = capsys.readouterr().out
    match = RESULT.match(out.strip().splitlines()[-1])
    assert match and int(match.group(4)) == 0, out[-2000:]
    assert "with 30 unrelated state changes in the same window" in out
    assert out.count("(20/20 deregistered)") == 2
    ours = out.split("== BASELINE")[0]
    assert re.search(r"dynamodb:BatchGetItem +[1-9]", ours)
