"""The batching trade-off, measured: the bench run once per event-source design, the table and the chart drawn from it.

    python -m bench.sweep                       # every design on make bench, bench-mixed and bench-org (about 2 h)
    python -m bench.sweep --only chosen         # one design again (results merge into the JSON)
    python -m bench.sweep --draw                # the table and the chart from the JSON, without running anything

Designs: one notice queue with a batching window of 0, 1, 2, 5 or 10 s (BatchSize 200, which AWS caps at 10 without
a window; MaximumConcurrency 5: the template's settings until session 6); a 1 s window with the function gathering
more of a burst itself (bench/gather.py); the lone-notice queue beside a notice queue of 10 s; the chosen one,
template.yaml's; and two of them with as many pollers as AWS may run. Each run is `python -m bench` in a process of
its own (stdout kept in --logs); the RESULT lines are what is kept. The quiet scenario is run on `make bench`'s fleet
for every design, and on the others' for the chosen one. The JSON (docs/bench-batching-tradeoff.json) holds every
figure the table and the chart show, with the load average of the machine during the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "bench-batching-tradeoff.json"
README = ROOT / "bench" / "README.md"
TABLE_BEGIN, TABLE_END = "<!-- bench.sweep table -->", "<!-- end of bench.sweep table -->"
CHART = ROOT / "docs" / "bench-batching-tradeoff.png"
X_MAX_S = 25  # the chart's p95 axis
EXTRA_CALLS = 100  # issue 24: a PutEvents per ten alerts, which the runs measured before it did not make

BENCHES = {  # the Makefile's targets
    "bench": [],
    "bench-mixed": ["--mixed"],
    "bench-org": ["--accounts", "5"],
}
SINGLE_QUEUE = ["--single-queue", "--batch-size", "200", "--max-concurrency", "5"]
DESIGNS = {  # name -> (the bench's arguments, the benches it runs on)
    **{f"window {w} s": ([*SINGLE_QUEUE, "--batching-window", str(w)], list(BENCHES)) for w in (0, 1, 2, 5, 10)},
    "window 1 s + gathering 9 s": ([*SINGLE_QUEUE, "--batching-window", "1", "--gather", "9"], ["bench", "bench-org"]),
    "lone + window 10 s": (["--batching-window", "10", "--max-concurrency", "5"], list(BENCHES)),
    "chosen": ([], list(BENCHES)),
    # The one cheap idea tried for make bench-org's 10x after issue 24's PutEvents: the chosen design with the notice
    # queue's window back at 10 s.
    "chosen, notice queue 10 s": (["--batching-window", "10"], ["bench-org"]),
    # What AWS's several pollers do to the calls (the bench's one poller is the best case): the same designs with as
    # many pollers as their MaximumConcurrency lets gather at once.
    "window 10 s, 5 pollers": ([*SINGLE_QUEUE, "--batching-window", "10", "--pollers", "5"], ["bench-org"]),
    "chosen, 2 pollers": (["--pollers", "2"], ["bench-org"]),
}
CHOSEN = "chosen"
MASS = re.compile(
    r"^RESULT api_calls_ours=(?P<calls>\d+) api_calls_baseline=(?P<baseline>\d+) ratio=(?P<ratio>[\d.]+|inf) "
    r"missed_ours=(?P<missed>\d+) missed_baseline=\d+ p95_ours_s=(?P<p95>[\d.]+|inf) "
    r"p95_baseline_s=(?P<p95_base>[\d.]+|inf)",
    re.MULTILINE,
)
QUIET = re.compile(
    r"^RESULT scenario=quiet notices=\d+ gap_s=[\d.]+ p50_ours_s=(?P<p50>[\d.]+|inf) p95_ours_s=(?P<p95>[\d.]+|inf) "
    r"p50_baseline_s=[\d.]+ p95_baseline_s=(?P<p95_base>[\d.]+|inf) calls_per_notice_ours=(?P<calls>[\d.]+)",
    re.MULTILINE,
)
# What each queue's event source was in the run (bench/harness.Design.describe), as the bench printed it.
MAPPING = re.compile(
    r"event source (?P<queue>\w+): BatchSize (?P<size>\d+)[^,]*, MaximumBatchingWindowInSeconds (?P<window>[\d.]+), "
    r"MaximumConcurrency (?P<concurrency>\d+)"
)


def mappings_of(output: str) -> dict[str, list[int]]:
    """{queue: [BatchSize, window, MaximumConcurrency]} of the run, from its output."""
    return {
        m["queue"]: [int(m["size"]), round(float(m["window"])), int(m["concurrency"])] for m in MAPPING.finditer(output)
    }


def run_one(design: str, bench: str, logs: Path) -> dict:
    quiet = bench == "bench" or design == CHOSEN
    argv = [*BENCHES[bench], *DESIGNS[design][0], "--chart", "", "--no-cold-start"] + (
        [] if quiet else ["--quiet", "0"]
    )
    began = time.time()
    load = os.getloadavg()[0]
    done = subprocess.run(  # nosec B603 - the bench itself, fixed arguments
        [sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    name = f"{bench}--{design.replace(' ', '-')}.txt"
    (logs / name).write_text(done.stdout + done.stderr)
    mass = MASS.search(done.stdout)
    if done.returncode != 0 or mass is None:
        raise RuntimeError(f"{bench} {design}: exit {done.returncode}; see {logs / name}")
    result = {
        "design": design,
        "bench": bench,
        "command": f"python -m bench {' '.join(argv)}",
        "mass_calls": int(mass["calls"]),
        "baseline_calls": int(mass["baseline"]),
        "missed": int(mass["missed"]),
        "mass_p95_s": float(mass["p95"]),
        "baseline_p95_s": float(mass["p95_base"]),
        "mappings": mappings_of(done.stdout),
        "with_alert_events": "PutEvents" in done.stdout,  # issue 24's calls counted
        "minutes": round((time.time() - began) / 60, 1),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    quiet_match = QUIET.search(done.stdout)
    if quiet_match:
        result |= {
            "quiet_p50_s": float(quiet_match["p50"]),
            "quiet_p95_s": float(quiet_match["p95"]),
            "quiet_calls_per_notice": float(quiet_match["calls"]),
            "quiet_baseline_p95_s": float(quiet_match["p95_base"]),
        }
    return result


def load_results() -> dict[str, dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def key(design: str, bench: str) -> str:
    return f"{bench} | {design}"


def table(results: dict[str, dict]) -> str:
    """Markdown: one row per design; per bench its calls (ratio), mass p95 and missed; the margin to 10x."""
    head = " | ".join(f"make {b}: calls (ratio), p95 s, missed" for b in BENCHES)
    lines = [
        f"| design | quiet p95 (s) | {head} | margin to 10x: bench / mixed / org (a run before issue 24: "
        f"as measured (less its {EXTRA_CALLS} PutEvents)) |",
        "|---|---|" + "---|" * len(BENCHES) + "---|",
    ]
    # Designs no longer run (kept in the JSON under another name, e.g. a design measured before a change) come last.
    kept = [r["design"] for r in results.values() if r["design"] not in DESIGNS]
    for design in [*DESIGNS, *dict.fromkeys(kept)]:
        runs = {b: results.get(key(design, b)) for b in BENCHES}
        if not any(runs.values()):
            continue
        cells, margins = [], []
        for r in runs.values():
            if not r:
                cells.append("-")
                margins.append("-")
                continue
            ratio = r["baseline_calls"] / r["mass_calls"]
            cells.append(f"{r['mass_calls']} ({ratio:.1f}x), {r['mass_p95_s']:.2f}, {r['missed']}")
            margin = r["baseline_calls"] / 10 - r["mass_calls"]
            margins.append(
                f"{margin:+.0f}" if r.get("with_alert_events") else f"{margin:+.0f} ({margin - EXTRA_CALLS:+.0f})"
            )
        quiet = (runs["bench"] or {}).get("quiet_p95_s")
        label = f"**{design}**" if design == CHOSEN else design
        lines.append(
            f"| {label} | {'-' if quiet is None else f'{quiet:.2f}'} | {' | '.join(cells)} | {' / '.join(margins)} |"
        )
    return "\n".join(lines)


def chart(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    markers = {"bench": "o", "bench-mixed": "s", "bench-org": "^"}
    designs = list(dict.fromkeys([*DESIGNS, *(r["design"] for r in results.values())]))
    colors = {design: plt.cm.viridis(i / max(1, len(designs) - 2)) for i, design in enumerate(designs)}
    colors[CHOSEN] = "#d62728"
    for bench, marker in markers.items():
        for design in designs:
            r = results.get(key(design, bench))
            if not r:
                continue
            ratio = r["baseline_calls"] / r["mass_calls"]
            x = min(r["mass_p95_s"], X_MAX_S)  # a p95 beyond the axis is drawn at its edge, with its figure
            left.scatter(x, ratio, marker=marker, s=60, color=colors[design], edgecolor="black", zorder=3)
            if r["mass_p95_s"] > X_MAX_S:
                left.annotate(
                    f"{r['mass_p95_s']:.0f} s", (x, ratio), textcoords="offset points", xytext=(-30, 4), fontsize=7
                )
            if bench == "bench":
                left.annotate(design, (x, ratio), textcoords="offset points", xytext=(6, 4), fontsize=8)
    left.axhline(10, color="black", linestyle="--", linewidth=1)
    left.axvline(10, color="black", linestyle=":", linewidth=1)
    left.text(0.3, 10.4, "ratio 10x", fontsize=8)
    left.text(10.1, 1.2, "p95 10 s", fontsize=8, rotation=90)
    left.set_yscale("log")
    left.set_xlim(0, X_MAX_S + 1)
    left.set_xlabel("mass reclaim: p95 notice -> out of service (s)")
    left.set_ylabel("API calls, baseline / ours (log scale)")
    left.set_title("Mass reclaim: 1,000 notices in 60 s")
    for bench, marker in markers.items():
        left.scatter([], [], marker=marker, color="white", edgecolor="black", label=f"make {bench}")
    left.legend(loc="lower center", fontsize=8)

    names = [d for d in DESIGNS if key(d, "bench") in results and "quiet_p95_s" in results[key(d, "bench")]]
    values = [results[key(d, "bench")]["quiet_p95_s"] for d in names]
    right.bar(range(len(names)), values, color=[colors[d] for d in names], edgecolor="black")
    right.axhline(2, color="black", linestyle="--", linewidth=1)
    right.text(-0.4, 2.15, "2 s", fontsize=8)
    right.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    right.set_ylabel("p95 notice -> out of service (s)")
    right.set_title("Quiet: one notice at a time (make bench)")
    loads = [r.get("load_before", math.nan) for r in results.values()]
    fig.suptitle(
        "Batching: calls against seconds, per design (python -m bench.sweep; "
        f"load average during the runs {min(loads):.1f}-{max(loads):.1f} on 2 cores)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(DESIGNS), help="run these designs (default: all)")
    parser.add_argument("--benches", action="append", choices=list(BENCHES), help="on these benches (default: all)")
    parser.add_argument("--draw", action="store_true", help="only draw the table and the chart from the JSON")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/bench-sweep"), help="where each run's output goes")
    args = parser.parse_args(argv)
    results = load_results()
    if not args.draw:
        args.logs.mkdir(parents=True, exist_ok=True)
        for design in args.only or list(DESIGNS):
            for bench in [b for b in DESIGNS[design][1] if not args.benches or b in args.benches]:
                result = run_one(design, bench, args.logs)
                results[key(design, bench)] = result
                RESULTS.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")
                print(json.dumps(result), flush=True)
    drawn = table(results)
    print(drawn)
    text = README.read_text()
    if TABLE_BEGIN in text and TABLE_END in text:
        head, rest = text.split(TABLE_BEGIN, 1)
        README.write_text(f"{head}{TABLE_BEGIN}\n{drawn}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}")
        print(f"table: {README.relative_to(ROOT)}")
    chart(results, CHART)
    print(f"chart: {CHART.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
