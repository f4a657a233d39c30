"""Mass reclaim and quiet notices, side by side: our handler against a per-notice baseline, on moto-backed accounts.

    make bench          (python -m bench [--instances N] [--target-groups N] [--window S] [--no-latency] ...)

Time is real time: no compression. In the mass reclaim, notices arrive over the window (60 s by default) at their
real offsets, and each instance's deadline is its notice time + 120 s on the same clock; the server timestamps
deregistrations. In the quiet scenario notices arrive one at a time, far enough apart that no batch holds two.
Each scenario prints a machine-readable RESULT line: the quiet one (`RESULT scenario=quiet ...`) first, the mass
reclaim's last.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import selectors
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from spot_handler.aws import AwsClients
from spot_handler.invocation import handle_invocation
from spot_handler.lanes import left_to_notice_queue
from spot_handler.settings import Settings

from bench.accounts import Organization, seed_organization
from bench.baseline import BlogSampleBaseline, run_baseline
from bench.gather import gathering
from bench.ours import Handler, Lane, OursRun, create_lane, endpoint, run_ours
from bench.scenario import (
    SPOT_WARNING_SECONDS,
    Fleet,
    Notice,
    Scenario,
    quiet_notices,
    register_all,
    seed_fleet,
    stamp,
    still_registered,
    unrelated_state_changes,
)
from bench.scenario import (
    notices as make_notices,
)
from local.account import AccountBuilder
from local.lambda_runtime import EventSourceMapping, load_template, queue_arn, sqs_event, sqs_record

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-2"
CHART = ROOT / "docs" / "bench-time-to-deregistered.png"
# ELB API token buckets (bench/README.md): the documented non-mutating bucket, and the same figures for mutating
# actions, whose own bucket is not larger at AWS, so the baseline is not handicapped by an invented limit.
ELB_BUCKETS = {
    "elb_describe": {"burst": 40, "refill_per_second": 10},
    "elb_mutating": {"burst": 40, "refill_per_second": 10},
}
TAIL_S = SPOT_WARNING_SECONDS + 30  # how long after the last notice a run may still be working (bounded)
MIXED_SHARE = 200  # --mixed: ECS container instances, and instances behind Classic Load Balancers, of the 1,000
# In-flight requests finish within 2-30 s of a deregistration (AWS then ends the drain early), capped by the delay.
DRAIN_SECONDS = (2.0, 30.0)
QUIET_NOTICES = 20  # the quiet scenario: its p95 is the 19th of 20
QUIET_GAP_MARGIN_S = 3.0  # quiet notices are the longest batching window + this apart: no batch holds two
BASELINE_QUIET_GAP_S = 2.0  # the baseline has no batches; its notices need only not overlap (about 0.2 s each)
CPU_QUEUE_ARN = queue_arn("bench-cpu")
# Ours puts every alert on the account's default bus too, as the template's default AlertEventBusName does: its
# PutEvents calls are counted with the others.
ALERT_EVENT_BUS = "default"


# ---- the server ------------------------------------------------------------------------------------------------


class BenchServer:
    """bench.server in a child process (moto's CPU stays out of the handler's process)."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            self.stop()
            raise RuntimeError("bench server did not start within 60 s")
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"bench server said {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def configure(
        self, latency: tuple[float, float] | None, buckets: dict | None, seed: int = 0, drain_seconds=None
    ) -> None:
        config = {"latency": latency, "buckets": buckets, "seed": seed, "drain_seconds": drain_seconds}
        body = json.dumps(config).encode()
        request = urllib.request.Request(f"{self.url}/_bench/config", data=body, method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    def stats(self) -> dict:
        return json.loads(urllib.request.urlopen(f"{self.url}/_bench/stats", timeout=10).read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# ---- figures ---------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    calls: Counter
    throttled: Counter
    to_deregistered: list[float | None]  # per notice, seconds; None = never deregistered
    missed: int
    still_registered: int
    notes: list[str] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile over every notice; a notice never deregistered counts as infinitely late."""
        values = sorted(v if v is not None else math.inf for v in self.to_deregistered)
        if not values:
            return math.nan
        return values[max(0, math.ceil(q / 100 * len(values)) - 1)]


def figures(label: str, stats: dict, fleet: Fleet, notices: list[Notice], start_at: float, left: int) -> Figures:
    by_target = fleet.by_target()
    removed_at: dict[str, float] = {}
    for key, when in stats["deregistered"].items():
        member = by_target.get(key)
        if member is not None:
            removed_at[member.instance_id] = min(when, removed_at.get(member.instance_id, when))
    to_deregistered: list[float | None] = []
    missed = 0
    for notice in notices:
        noticed = start_at + notice.offset_s
        removed = removed_at.get(notice.member.instance_id)
        to_deregistered.append(None if removed is None else removed - noticed)
        if removed is None or removed > noticed + SPOT_WARNING_SECONDS:
            missed += 1
    figures = Figures(label, Counter(stats["calls"]), Counter(stats["throttled"]), to_deregistered, missed, left)
    largest = stats.get("largest", {}).get("sns:PublishBatch")
    if largest:
        figures.notes.append(f"largest PublishBatch request: {largest} bytes (SNS takes 262144)")
    return figures


def print_figures(f: Figures) -> None:
    print(f"\n== {f.label}")
    print(f"  API calls by operation (every request AWS would see, retries included): {f.total_calls}")
    for op, n in sorted(f.calls.items(), key=lambda kv: (-kv[1], kv[0])):
        throttled = f.throttled.get(op, 0)
        print(f"    {op:<48} {n:>6}" + (f"   ({throttled} throttled)" if throttled else ""))
    print(f"  throttles seen: {sum(f.throttled.values())}")
    done = [v for v in f.to_deregistered if v is not None]
    print(
        f"  notice -> deregistered: p50 {f.percentile(50):.2f} s, p95 {f.percentile(95):.2f} s, "
        f"max {max(done) if done else math.nan:.2f} s  ({len(done)}/{len(f.to_deregistered)} deregistered)"
    )
    print(f"  not deregistered before their deadline (notice + {SPOT_WARNING_SECONDS} s): {f.missed}")
    print(f"  still registered after the run: {f.still_registered}")
    for note in f.notes:
        print(f"  {note}")


# ---- the runs --------------------------------------------------------------------------------------------------


def wait_until_quiet(server: BenchServer, limit_s: float) -> None:
    """Return once no call has reached the server for a second (stragglers' retries), or after limit_s."""
    deadline = time.time() + limit_s
    last = -1
    while time.time() < deadline:
        total = sum(server.stats()["calls"].values())
        if total == last:
            return
        last = total
        time.sleep(1.0)


def idempotency_table(builder: AccountBuilder, name: str = "bench-idempotency") -> str:
    """The idempotency table as template.yaml declares it (partition key `id`); --no-idempotency runs without."""
    builder.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@dataclass(frozen=True)
class Design:
    """How notices reach our function: the event source mapping of each queue (template.yaml's, or the command line's),
    the detail-types each queue's rules deliver, and what an invocation runs."""

    mappings: tuple[EventSourceMapping, ...]
    kinds: dict[str, frozenset[str] | None]  # queue -> detail-types its rules deliver; None: every notice
    gather_s: float = 0.0  # bench/gather.py's experiment: seconds the function gathers more of a burst itself
    pollers: int = 1

    @property
    def notices_mapping(self) -> EventSourceMapping:
        """The queue of every notice and of the follow-ups (NOTICE_QUEUE_URL)."""
        return next(m for m in self.mappings if m.queue == "NoticeQueue")

    @property
    def label(self) -> str:
        """A short name for charts and tables."""
        parts = []
        for m in self.mappings:
            which = "lone notices" if m.queue == "LoneNoticeQueue" else "batches"
            parts.append(f"{which}: window {m.batching_window_s:g} s, up to {m.effective_batch_size}")
        return "; ".join(parts) + (f"; gathering {self.gather_s:g} s" if self.gather_s else "")

    @property
    def longest_window_s(self) -> float:
        return max(m.batching_window_s for m in self.mappings)

    def describe(self) -> list[str]:
        lines = []
        for m in self.mappings:
            size = f"BatchSize {m.batch_size}" + (
                f" (AWS hands over at most {m.effective_batch_size} without a window)"
                if m.effective_batch_size != m.batch_size
                else ""
            )
            kinds = self.kinds.get(m.queue)
            lines.append(
                f"event source {m.queue}: {size}, MaximumBatchingWindowInSeconds {m.batching_window_s:g}, "
                f"MaximumConcurrency {m.max_concurrency}"
                + (" (overridden on the command line)" if m.overridden else " (template.yaml)")
                + (f"; receives {', '.join(sorted(kinds))}" if kinds is not None else "; receives every notice")
            )
        if self.pollers > 1:
            lines.append(f"pollers per queue: {self.pollers} (at most its MaximumConcurrency)")
        if self.gather_s:
            lines.append(
                f"EXPERIMENT (bench/gather.py): a batch of more than one notice gathers more of the burst from its "
                f"own queue for {self.gather_s:g} s (its ReceiveMessage and DeleteMessageBatch are counted)"
            )
        return lines


def queue_detail_types(queue: str) -> frozenset[str] | None:
    """The detail-types template.yaml's rules deliver to `queue` (None when some rule sends it everything)."""
    kinds: set[str] = set()
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        targets = resource["Properties"].get("Targets", [])
        if not any(t.get("Arn", {}).get("Fn::GetAtt", "").startswith(f"{queue}.") for t in targets):
            continue
        pattern = resource["Properties"].get("EventPattern", {})
        if "detail-type" not in pattern:
            return None
        kinds.update(pattern["detail-type"])
    return frozenset(kinds)


def template_design(pollers: int = 1) -> Design:
    mappings = tuple(EventSourceMapping.all_from_template().values())
    return Design(mappings, {m.queue: queue_detail_types(m.queue) for m in mappings}, pollers=pollers)


def the_function(settings: Settings, design: Design, lanes: list[Lane]) -> Handler:
    """What app.lambda_handler does with an event, without Powertools' wiring: the lone-notice queue's choice
    (spot_handler/lanes.py), then handle_invocation; the record ids it reports failed (None: left to the batches)."""

    def handle(event: dict, clients: AwsClients, accounts) -> set[str] | None:
        if left_to_notice_queue(event, settings):
            return None
        report = handle_invocation(event, clients, settings, accounts=accounts)
        return set(report.batch_item_failures)

    if not design.gather_s:
        return handle
    notices_lane = next(lane for lane in lanes if lane.name == "NoticeQueue")
    return gathering(handle, notices_lane.queue_url, notices_lane.queue_arn, design.gather_s)


@dataclass
class Scenarios:
    """What every run shares: the server, the accounts and fleet, the design under test."""

    scenario: Scenario
    design: Design
    server: BenchServer
    session: object
    builder: AccountBuilder
    fleet: Fleet
    idempotency: str = ""
    org: Organization | None = None
    incidents: str = ""  # the incident table (template.yaml's IncidentTable, there by default)
    unrelated: list = dataclasses.field(default_factory=list)  # (offset, event): state changes of the mass reclaim

    def still_registered(self) -> int:
        return self.org.still_registered() if self.org else still_registered(self.builder, self.fleet)

    def register_all(self) -> None:
        self.org.register_all() if self.org else register_all(self.builder, self.fleet)

    def run_ours(
        self,
        label: str,
        notices: list[Notice],
        tag: str,
        limit_s: float,
        idle_before_each_notice: bool = False,
        unrelated: list[tuple[float, dict]] = (),
    ) -> tuple[Figures, OursRun, dict]:
        """Our function, fed by the design's event sources from queues of its own (`tag` names them)."""
        sqs = self.builder.client("sqs")
        lanes = [
            create_lane(sqs, f"bench-{tag}-{m.queue}", m, self.design.kinds.get(m.queue)) for m in self.design.mappings
        ]
        lanes = [dataclasses.replace(lane, name=m.queue) for lane, m in zip(lanes, self.design.mappings)]
        by_name = {lane.name: lane for lane in lanes}
        settings = Settings(
            alert_topic_arn=self.fleet.topic_arn,
            idempotency_table_name=self.idempotency,
            incident_table_name=self.incidents,
            notice_queue_url=by_name["NoticeQueue"].queue_url,  # where the function sends its follow-ups
            # As the template passes it to the function: the notice queue's window.
            notice_batching_window=math.ceil(self.design.notices_mapping.batching_window_s),
            lone_notice_queue_url=by_name["LoneNoticeQueue"].queue_url if "LoneNoticeQueue" in by_name else "",
            alert_event_bus_name=ALERT_EVENT_BUS,
        )
        settings = self.org.settings(settings) if self.org else settings
        latency, buckets = self.scenario.latency_s, ELB_BUCKETS if self.scenario.throttle else None
        self.server.configure(latency, buckets, seed=self.scenario.seed, drain_seconds=DRAIN_SECONDS)
        start_at = time.time() + 0.5
        handler = the_function(settings, self.design, lanes)
        run = run_ours(
            notices,
            lanes,
            self.session,
            self.server.url,
            settings,
            start_at,
            limit_s,
            handler,
            pollers=self.design.pollers,
            idle_before_each_notice=idle_before_each_notice,
            unrelated=unrelated,
        )
        wait_until_quiet(self.server, 10)
        stats = self.server.stats()
        self.server.configure(None, None)
        ours = figures(label, stats, self.fleet, notices, start_at, self.still_registered())
        ours.notes += self.design.describe()
        for name, lane in run.lanes.items():
            sizes = lane.batch_sizes
            line = f"{name}: {lane.invocations} invocations" + (
                f", batch size min/median/max {min(sizes)}/{sorted(sizes)[len(sizes) // 2]}/{max(sizes)}"
                if sizes
                else ""
            )
            if "LoneNoticeQueue" in by_name and name == "LoneNoticeQueue":
                line += f"; {lane.left_to_batched_lane} left every record to the notice queue's batches"
            ours.notes.append(line)
        ours.notes += [
            f"execution environments created: {run.environments} (one more only while every other was busy"
            + (
                f"; every idle one dropped before each new notice: {run.environments_reclaimed})"
                if idle_before_each_notice
                else ")"
            ),
            f"records reported failed (would return after the visibility timeout): {run.batch_item_failures}",
            f"follow-ups: {run.follow_up_records} delayed messages handled in {run.follow_up_invocations} "
            f"invocations (their SendMessageBatch and DescribeTargetHealth calls are counted above)",
        ]
        ours.notes += waiting_and_handling(notices, ours, run, start_at)
        if run.errors:
            ours.notes.append(f"invocations that raised: {len(run.errors)} (first: {run.errors[0]})")
        self.register_all()
        return ours, run, stats

    def run_baseline(self, label: str, notices: list[Notice]) -> tuple[Figures, dict]:
        latency, buckets = self.scenario.latency_s, ELB_BUCKETS if self.scenario.throttle else None
        self.server.configure(latency, buckets, seed=self.scenario.seed)
        start_at = time.time() + 0.5
        handler = self.org.baseline(self.server.url) if self.org else None
        base_run = run_baseline(notices, self.session, self.server.url, self.fleet.topic_arn, start_at, handler)
        wait_until_quiet(self.server, 10)
        stats = self.server.stats()
        self.server.configure(None, None)
        base = figures(label, stats, self.fleet, notices, start_at, self.still_registered())
        base.notes += [
            f"invocations: {base_run.invocations} (one per notice, concurrent as Lambda would run them)",
            f"errors swallowed by the sample's bare except: {len(base_run.swallowed_errors)}"
            + (f" (first: {base_run.swallowed_errors[0][:120]})" if base_run.swallowed_errors else ""),
        ]
        self.register_all()
        return base, stats


def waiting_and_handling(notices: list[Notice], ours: Figures, run: OursRun, start_at: float) -> list[str]:
    """Where a notice's time to out of service went: waiting to be handed to an invocation that acted on it (the
    queue and its batching window), and that invocation's work until the instance was out."""
    waits, work = [], []
    for notice, seconds in zip(notices, ours.to_deregistered):
        handed = run.acted_at.get(notice.event["id"])
        if handed is None or seconds is None:
            continue
        due = start_at + notice.offset_s
        waits.append(handed - due)
        work.append(seconds - (handed - due))
    if not waits:
        return []

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    return [
        f"of which waiting for a batch: p50 {p(waits, 50):.2f} s, p95 {p(waits, 95):.2f} s; the invocation's work "
        f"until out of service: p50 {p(work, 50):.2f} s, p95 {p(work, 95):.2f} s"
    ]


def run_mass(runs: Scenarios) -> tuple[list[Notice], Figures, Figures, OursRun]:
    """Ours, then the baseline, from the same state. With `org` (--accounts), the fleet is spread over its accounts:
    ours runs as the hub with member roles, the baseline once per account (bench/accounts.py)."""
    notices = make_notices(runs.fleet, runs.scenario)
    limit = runs.scenario.arrival_window_s + TAIL_S
    label = "OURS: batched handler, SQS event sources" + (
        f", with {len(runs.unrelated)} unrelated state changes in the same window" if runs.unrelated else ""
    )
    ours, ours_run, stats = runs.run_ours(label, notices, "mass", limit, unrelated=runs.unrelated)
    if runs.org:
        runs.org.record("ours (hub and spoke)", stats, ours_run)
    base, stats = runs.run_baseline("BASELINE: per-notice handler (blog-sample style)", notices)
    if runs.org:
        runs.org.record("baseline (one deployment per account)", stats)
    return notices, ours, base, ours_run


def run_quiet(runs: Scenarios, count: int) -> tuple[Figures, Figures, float]:
    """Notices one at a time: each far enough after the last that no batch of any queue holds two, on an idle
    function (no warm environment: Lambda drops idle ones); the baseline gets its own, closer together."""
    gap = runs.design.longest_window_s + QUIET_GAP_MARGIN_S
    notices = quiet_notices(runs.fleet, runs.scenario, count, gap)
    label = f"QUIET, OURS: {count} notices {gap:g} s apart, each on an idle function"
    ours, _, _ = runs.run_ours(label, notices, "quiet", gap * count + TAIL_S, idle_before_each_notice=True)
    base_notices = quiet_notices(runs.fleet, runs.scenario, count, BASELINE_QUIET_GAP_S)
    base, _ = runs.run_baseline(
        f"QUIET, BASELINE: the same {count} notices {BASELINE_QUIET_GAP_S:g} s apart", base_notices
    )
    return ours, base, gap


def cpu_per_notice(
    mapping: EventSourceMapping, server: BenchServer, session, builder, fleet, scenario, idempotency: str = ""
) -> tuple[float, float]:
    """(ours, baseline) CPU seconds per notice in this process, no injected latency, no throttling.

    Ours claims in `idempotency` (a table of its own: the main run's claims would make every notice a duplicate).
    """
    import time as _time

    register_all(builder, fleet)
    server.configure(None, None)
    notices = make_notices(fleet, scenario)
    now = _time.time()
    events = [stamp(n.event, now) for n in notices]
    with endpoint(server.url):
        clients = AwsClients.create(session)
    settings = Settings(
        alert_topic_arn=fleet.topic_arn, idempotency_table_name=idempotency, alert_event_bus_name=ALERT_EVENT_BUS
    )
    size = max(1, min(mapping.batch_size, len(events)))
    batches = [events[i : i + size] for i in range(0, len(events), size)][:2]
    handle_invocation(sqs_event(_record(e) for e in batches[0][:1]), clients, settings)  # warm the environment
    used = 0.0
    counted = 0
    for batch in batches:
        started = _time.process_time()
        handle_invocation(sqs_event(_record(e) for e in batch), clients, settings)
        used += _time.process_time() - started
        counted += len(batch)
    ours = used / counted

    register_all(builder, fleet)
    baseline = BlogSampleBaseline(session, server.url, fleet.topic_arn)
    sample = events[: min(counted, 100)]
    baseline.handle(sample[0])  # warm
    started = _time.process_time()
    for event in sample:
        baseline.handle(event)
    base = (_time.process_time() - started) / len(sample)
    return ours, base


def _record(event: dict) -> dict:
    return sqs_record(json.dumps(event), event["id"], source_arn=CPU_QUEUE_ARN)


def chart(notices: list[Notice], ours: Figures, base: Figures, path: Path, design_label: str, conditions: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {
        id(ours): f"ours: {design_label}",
        id(base): "baseline: one invocation per notice",
    }
    colors = {id(ours): "#1f77b4", id(base): "#d62728"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    offsets = [n.offset_s for n in notices]
    never_y = 250.0
    for f in (base, ours):
        xs = [o for o, v in zip(offsets, f.to_deregistered) if v is not None]
        ys = [max(v, 0.01) for v in f.to_deregistered if v is not None]
        left.scatter(xs, ys, s=6, color=colors[id(f)], alpha=0.6, label=names[id(f)])
        lost = [o for o, v in zip(offsets, f.to_deregistered) if v is None]
        if lost:
            left.scatter(
                lost,
                [never_y] * len(lost),
                s=14,
                color=colors[id(f)],
                marker="x",
                label=f"{names[id(f)].split(':')[0]}: never deregistered ({len(lost)})",
            )
    left.axhline(SPOT_WARNING_SECONDS, color="black", linestyle="--", linewidth=1)
    left.text(0, SPOT_WARNING_SECONDS * 0.8, "deadline: notice + 120 s", fontsize=8)
    left.set_yscale("log")
    left.set_ylim(0.01, 400)
    left.set_xlabel("notice arrival (s after the first notice)")
    left.set_ylabel("notice -> deregistered (s, log scale)")
    left.set_title("Time to deregistered, per instance")
    left.legend(loc="lower right", fontsize=8, framealpha=0.9)

    for f in (ours, base):
        values = sorted(v for v in f.to_deregistered if v is not None)
        n = len(f.to_deregistered)
        p95 = f.percentile(95)
        label = (
            f"{names[id(f)].split(':')[0]}: p95 "
            + (f"{p95:.1f} s" if math.isfinite(p95) else "never")
            + f", missed {f.missed}"
        )
        right.step(
            [max(v, 0.01) for v in values],
            [(i + 1) / n * 100 for i in range(len(values))],
            where="post",
            color=colors[id(f)],
            label=label,
        )
    right.axvline(SPOT_WARNING_SECONDS, color="black", linestyle="--", linewidth=1)
    right.set_xscale("log")
    right.set_xlim(0.01, 400)
    right.set_xlabel("notice -> deregistered (s, log scale)")
    right.set_ylabel("% of instances deregistered")
    right.set_ylim(0, 101)
    right.set_title("Share of instances deregistered")
    right.legend(loc="upper left", fontsize=8)
    kinds = Counter(n.member.target_type for n in notices)
    fig.suptitle(
        f"{len(notices)} Spot notices within {max(offsets) if offsets else 0:.0f} s "
        f"({kinds['instance'] + kinds['ip']} target groups, {kinds['ecs']} ECS, {kinds['classic']} Classic ELB); "
        f"API calls: ours {ours.total_calls}, baseline {base.total_calls}; {conditions}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mass-reclaim benchmark: our handler against a per-notice baseline.")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--target-groups", type=int, default=10)
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="the mixed fleet: 200 of the instances ECS container instances, 200 behind Classic Load Balancers",
    )
    parser.add_argument("--ecs-instances", type=int, default=None, help="of --instances: ECS container instances")
    parser.add_argument("--classic-instances", type=int, default=None, help="of --instances: behind Classic ELBs")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which every notice arrives")
    parser.add_argument("--no-latency", action="store_true", help="no injected per-call latency")
    parser.add_argument("--no-throttle", action="store_true", help="no ELB token bucket")
    parser.add_argument(
        "--no-cold-start", action="store_true", help="skip the cold start in the Lambda runtime container (Docker)"
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="spread the fleet over N accounts: the hub's and N-1 members' (hub and spoke; the baseline deployed in "
        "each account), reporting AssumeRole against its bound (bench/accounts.py)",
    )
    parser.add_argument(
        "--chart",
        default=None,
        help=f"where to write the PNG ('' for none; default {CHART.name}, none with --accounts)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--batching-window", type=float, help="the notice queue's MaximumBatchingWindowInSeconds (template.yaml's)"
    )
    parser.add_argument("--batch-size", type=int, help="the notice queue's BatchSize (template.yaml's)")
    parser.add_argument("--max-concurrency", type=int, help="the notice queue's MaximumConcurrency (template.yaml's)")
    parser.add_argument(
        "--single-queue",
        action="store_true",
        help="every notice through the notice queue only, without the lone-notice queue (the design until session 6)",
    )
    parser.add_argument(
        "--gather",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="EXPERIMENT (bench/gather.py; implies --single-queue): a batch of more than one notice receives more of "
        "the burst from its own queue for this long before it drains",
    )
    parser.add_argument(
        "--pollers",
        type=int,
        default=1,
        help="pollers gathering batches from each queue at once, at most its MaximumConcurrency (AWS starts with 5)",
    )
    parser.add_argument(
        "--quiet",
        type=int,
        default=QUIET_NOTICES,
        metavar="N",
        help=f"notices of the quiet scenario, one at a time (default {QUIET_NOTICES}; 0: not run)",
    )
    parser.add_argument(
        "--state-changes",
        type=int,
        default=0,
        metavar="N",
        help="also N state changes no interruption is behind (On-Demand instances stopped, terminated, started by "
        "their users) within the mass reclaim's window, to ours only: the baseline subscribes to warnings alone",
    )
    parser.add_argument(
        "--no-idempotency",
        action="store_true",
        help="run ours without the idempotency table (deployed, it claims and completes each batch in "
        "two DynamoDB transactions)",
    )
    args = parser.parse_args(argv)
    if args.chart is None:
        args.chart = "" if args.accounts > 1 else str(CHART)  # the committed chart is the single-account run's
    scenario = Scenario(
        instances=args.instances,
        target_groups=args.target_groups,
        # The default fleet is the one every earlier run measured (1,000 in target groups); --mixed adds ECS and Classic
        ecs_instances=args.ecs_instances if args.ecs_instances is not None else (MIXED_SHARE if args.mixed else 0),
        classic_instances=(
            args.classic_instances if args.classic_instances is not None else (MIXED_SHARE if args.mixed else 0)
        ),
        arrival_window_s=args.window,
        latency_s=None if args.no_latency else (0.020, 0.050),
        throttle=not args.no_throttle,
        seed=args.seed,
    )
    design = template_design(args.pollers)
    notices_mapping = design.notices_mapping
    if any(v is not None for v in (args.batch_size, args.batching_window, args.max_concurrency)):
        notices_mapping = EventSourceMapping(
            batch_size=args.batch_size or notices_mapping.batch_size,
            batching_window_s=(
                notices_mapping.batching_window_s if args.batching_window is None else args.batching_window
            ),
            max_concurrency=args.max_concurrency or notices_mapping.max_concurrency,
            overridden=True,
        )
    others = () if args.single_queue or args.gather else tuple(m for m in design.mappings if m.queue != "NoticeQueue")
    design = dataclasses.replace(design, mappings=(notices_mapping, *others), gather_s=args.gather)
    server = BenchServer()
    try:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        builder = AccountBuilder(session, endpoint_url=server.url).network(subnet_prefix=20)
        began = time.time()
        org = seed_organization(builder, scenario, args.accounts, server.url) if args.accounts > 1 else None
        fleet = org.fleet if org else seed_fleet(builder, scenario)
        kinds = Counter(fleet.target_groups.values())
        members = Counter(m.target_type for m in fleet.members)
        print(
            f"seeded {len(fleet.members)} Spot instances in {time.time() - began:.1f} s: "
            f"{members['instance'] + members['ip']} in {kinds['instance'] + kinds['ip']} target groups "
            f"({kinds['ip']} ip-type), {members['ecs']} ECS container instances in {kinds['ecs']} clusters, "
            f"{members['classic']} behind {kinds['classic']} Classic Load Balancers"
            + (f", over {args.accounts} accounts (a hub and {args.accounts - 1} members)" if org else "")
        )
        print(
            f"scenario: {scenario.instances} notices within {scenario.arrival_window_s:g} s, "
            "real time (no compression), "
            f"latency {'20-50 ms per call' if scenario.latency_s else 'none'}, "
            f"ELB buckets {ELB_BUCKETS if scenario.throttle else 'off'}"
        )
        table = "" if args.no_idempotency else idempotency_table(builder)
        incidents = builder.incident_table("bench-incidents")
        unrelated = unrelated_state_changes(builder, scenario, args.state_changes)
        print(
            f"incident table {incidents} (RestoreDrainedInstances, on by default): each drain recorded"
            + (f"; {len(unrelated)} unrelated state changes seeded for the mass reclaim" if unrelated else "")
        )
        runs = Scenarios(scenario, design, server, session, builder, fleet, table, org, incidents, unrelated)
        notices, ours, base, _ = run_mass(runs)
        ours.notes.append(
            f"idempotency claims in DynamoDB table {table} (as deployed)"
            if table
            else "idempotency: off (--no-idempotency); deployed, the handler claims in DynamoDB"
        )
        print_figures(ours)
        print_figures(base)
        if org:
            print("\n".join(org.report()))
        quiet = None
        if args.quiet:
            quiet = run_quiet(
                dataclasses.replace(runs, idempotency=table and idempotency_table(builder, "bench-quiet")), args.quiet
            )
            print_figures(quiet[0])
            print_figures(quiet[1])
        cpu_table = "" if args.no_idempotency else idempotency_table(builder, "bench-idempotency-cpu")
        # With --accounts: measured on the hub account's own instances (the single-account path)
        cpu_fleet = org.hub.fleet if org else fleet
        cpu_ours, cpu_base = cpu_per_notice(
            design.notices_mapping, server, session, builder, cpu_fleet, scenario, cpu_table
        )
    finally:
        server.stop()

    print("\n== Cost beyond AWS latency")
    print(
        f"  CPU per notice (handler process only, no latency): ours {cpu_ours * 1000:.2f} ms, "
        f"baseline {cpu_base * 1000:.2f} ms"
    )
    if not args.no_cold_start:
        from bench.coldstart import report

        print("\n".join(report()))
    if args.chart:  # a string: Path("") would be "." and write ".png"
        args.chart = Path(args.chart)
        conditions = ("20-50 ms per call" if scenario.latency_s else "no latency") + (
            "; ELB token bucket 40, +10/s" if scenario.throttle else "; no throttling"
        )
        chart(notices, ours, base, args.chart, design.label, conditions)
        print(f"  chart: {args.chart.relative_to(ROOT) if args.chart.is_relative_to(ROOT) else args.chart}")

    ratio = base.total_calls / ours.total_calls if ours.total_calls else math.inf
    print(f"\n  API calls: baseline / ours = {base.total_calls} / {ours.total_calls} = {ratio:.1f}x")
    if quiet:
        q_ours, q_base, gap = quiet
        print(
            f"RESULT scenario=quiet notices={len(q_ours.to_deregistered)} gap_s={gap:g} "
            f"p50_ours_s={q_ours.percentile(50):.2f} p95_ours_s={q_ours.percentile(95):.2f} "
            f"p50_baseline_s={q_base.percentile(50):.2f} p95_baseline_s={q_base.percentile(95):.2f} "
            f"calls_per_notice_ours={q_ours.total_calls / len(q_ours.to_deregistered):.1f} "
            f"calls_per_notice_baseline={q_base.total_calls / len(q_base.to_deregistered):.1f} "
            f"missed_ours={q_ours.missed} missed_baseline={q_base.missed}"
        )
    print(
        f"RESULT api_calls_ours={ours.total_calls} api_calls_baseline={base.total_calls} ratio={ratio:.1f} "
        f"missed_ours={ours.missed} missed_baseline={base.missed} "
        f"p95_ours_s={ours.percentile(95):.2f} p95_baseline_s={base.percentile(95):.2f}"
        + (
            f" accounts={args.accounts} assume_roles={org.assume_roles} assume_role_bound={org.assume_role_bound}"
            if org
            else ""
        )
    )
    if org and not org.bound_holds:
        print(f"AssumeRole calls exceed their bound: {org.assume_roles} > {org.assume_role_bound}", file=sys.stderr)
        return 1
    return 0
