"""template.yaml batches notices the way bench/README.md's measured trade-off chose, and only that way."""

from __future__ import annotations

import json
import re

from spot_handler.lanes import LONE_KINDS
from spot_handler.signals import rebalance, state_change

from local.lambda_runtime import FUNCTION_LOGICAL_ID, EventSourceMapping, load_template
from tests.support.template import ROOT

BENCH_README = ROOT / "bench" / "README.md"
TRADE_OFF = ROOT / "docs" / "bench-batching-tradeoff.json"  # bench.sweep's runs, which the README's table shows
CHOSEN_HEADING = "### The settings chosen"
ROW = re.compile(r"^\|\s*`?(\w+)`?\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


def chosen_in_bench_readme() -> dict[str, tuple[int, int, int]]:
    """{queue: (BatchSize, MaximumBatchingWindowInSeconds, MaximumConcurrency)} from the table under the heading."""
    text = BENCH_README.read_text()
    assert CHOSEN_HEADING in text, f"bench/README.md has no {CHOSEN_HEADING!r} table"
    section = text.split(CHOSEN_HEADING, 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            queue, *figures = match.groups()
            rows[queue] = tuple(int(f) for f in figures)
    return rows


def declared_in_template() -> dict[str, tuple[int, int, int]]:
    mappings = EventSourceMapping.all_from_template()
    return {q: (m.batch_size, int(m.batching_window_s), m.max_concurrency) for q, m in mappings.items()}


def test_the_template_batches_as_the_bench_readme_chose():
    assert declared_in_template() == chosen_in_bench_readme()


def test_the_chosen_row_of_the_trade_off_was_measured_with_the_template_settings():
    # The table's "chosen" row (bench.sweep, design "chosen": `python -m bench` on the template's defaults) records
    # each queue's event source as the run printed it: a change of the template without a new run fails here.
    runs = [r for r in json.loads(TRADE_OFF.read_text()).values() if r["design"] == "chosen"]
    assert sorted(r["bench"] for r in runs) == ["bench", "bench-mixed", "bench-org"]
    for run in runs:
        measured = {queue: tuple(figures) for queue, figures in run["mappings"].items()}
        assert measured == declared_in_template(), run["bench"]


def test_the_batching_settings_are_constants_not_parameters():
    template = load_template()
    parameters = set(template["Parameters"])
    assert not {"BatchSize", "MaxBatchingWindowSeconds", "MaxConcurrency"} & parameters
    events = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Events"].values()
    sqs = [e for e in events if e["Type"] == "SQS"]  # the sweep's schedule is an event of the function too
    assert len(sqs) == 3  # notices, lone notices, state changes
    for event in sqs:
        properties = event["Properties"]
        for value in (
            properties["BatchSize"],
            properties["MaximumBatchingWindowInSeconds"],
            properties["ScalingConfig"]["MaximumConcurrency"],
        ):
            assert value["Fn::FindInMap"][0] == "NoticeBatching"


def test_follow_ups_are_scheduled_with_the_window_of_the_queue_they_go_to():
    # Follow-ups are delayed messages on NoticeQueue (NOTICE_QUEUE_URL): they wait up to its window, which the
    # function must be told so that looks due before a deadline or a heartbeat are sent early enough.
    function = load_template()["Resources"][FUNCTION_LOGICAL_ID]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["NOTICE_QUEUE_URL"] == {"Ref": "NoticeQueue"}
    notices = next(
        e["Properties"]
        for e in function["Events"].values()
        if e["Type"] == "SQS" and e["Properties"]["Queue"]["Fn::GetAtt"] == "NoticeQueue.Arn"
    )
    assert variables["NOTICE_BATCHING_WINDOW_SECONDS"] == notices["MaximumBatchingWindowInSeconds"]


def test_the_lone_notice_queue_gets_the_interruption_warnings_and_nothing_of_the_lifecycle_hook():
    # lanes.py acts on a lone Spot or Capacity Reservation warning and leaves anything else to the notice queue.
    # EC2's signals share one rule (one rule per event pattern), so a rebalance recommendation reaches the lone queue
    # too and is left to the batches (tests/unit/test_lanes.py); a lifecycle action must not (two copies would
    # complete its action twice, were it ever acted on).
    resources = load_template()["Resources"]
    routed = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        arns = [t["Arn"].get("Fn::GetAtt") for t in resource["Properties"]["Targets"]]
        if "LoneNoticeQueue.Arn" in arns:
            assert "NoticeQueue.Arn" in arns, "every notice the lone path sees has its copy on the notice queue"
            routed.update(resource["Properties"]["EventPattern"]["detail-type"])
    assert routed - {kind.value for kind in LONE_KINDS} == {rebalance.KIND.value}
    assert {kind.value for kind in LONE_KINDS} <= routed
    assert resources["LoneNoticeQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "HandlerKey"}
    assert resources["LoneNoticeQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": "DeadLetterQueue.Arn"
    }


def test_state_changes_have_a_queue_of_their_own_and_never_share_the_notices_batches():
    # EC2 sends a state change for every instance of the account and region: on the notice queue they would take
    # places in a mass reclaim's batches, and every extra batch pays the per-target-group calls again.
    resources = load_template()["Resources"]
    state_change_rules = [
        resource
        for resource in resources.values()
        if resource["Type"] == "AWS::Events::Rule"
        and resource["Properties"]["EventPattern"].get("detail-type") == [state_change.KIND.value]
    ]
    assert len(state_change_rules) == 2  # the default bus's and the hub bus's
    for rule in state_change_rules:
        assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Fn::GetAtt": "StateChangeQueue.Arn"}]
    for resource in resources.values():
        if resource["Type"] == "AWS::Events::Rule" and resource not in state_change_rules:
            assert state_change.KIND.value not in json.dumps(resource["Properties"].get("EventPattern", {}))
    queue = resources["StateChangeQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "HandlerKey"}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": "DeadLetterQueue.Arn"}
    assert "StateChangeQueue" in EventSourceMapping.all_from_template()
