#!/usr/bin/env python3
"""Turn criterion's output for the ciranda-benches targets into docs/benchmarks.md.

Reads every <criterion dir>/**/new/{benchmark,estimates}.json, groups the results by
criterion group ("scheduler/yield_many", ...), and writes one table per section
(scheduler, timers, sync, net) with each runtime's median and the ciranda/Tokio and
ciranda/smol ratios of medians (lower is better for ciranda). memory.json, written by the
`memory` bench target into the same directory, becomes the memory table.

--criterion may be given several times, one directory per full run (move
target/criterion aside between runs): ratios are then taken within each run (where the
three runtimes shared the machine state) and the table shows their median, with every
run's ratio in small print. On a noisy machine that is worth more than one long run.

Usage:
    python3 benches/report.py --criterion target-bench/criterion --out docs/benchmarks.md \
        --command "CARGO_TARGET_DIR=target-bench cargo bench -p ciranda-benches" \
        [--duration "14 min"] [--note "text"]
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

RUNTIMES = ["ciranda", "tokio", "smol"]

# Order of sections and workloads in the report, and what one criterion iteration is.
WORKLOADS = {
    "scheduler": [
        ("spawn_many_local", "10 000 tasks spawned from a task, all run"),
        ("spawn_many_remote_idle", "10 000 tasks spawned from outside, joined"),
        ("spawn_many_remote_busy1", "the same while 2×workers tasks yield + stall 10 µs"),
        ("spawn_many_remote_busy2", "1 000 remote spawns while each worker runs a respawning stall chain"),
        ("ping_pong", "1 000 task pairs, one message each way over oneshots"),
        ("yield_many", "200 tasks × 1 000 yields"),
        ("chained_spawn", "1 000 recursive spawns"),
        ("spawn_blocking", "one task per worker × 100 batches of 16 no-op blocking calls"),
    ],
    "timers": [
        ("many_sleeps", "100 000 tasks sleeping seeded-random 0–10 ms"),
        ("timeout_ready", "one `timeout(1 s, ready)` (per call)"),
        ("sleep_register_drop", "one 60 s sleep created, polled once, dropped (per sleep)"),
    ],
    "sync": [
        ("mutex_uncontended", "one lock/increment/unlock (per lock)"),
        ("mutex_contended", "8 tasks × 1 000 locks"),
        ("semaphore_contended", "5 permits, 6 tasks × 1 000 acquire/release"),
        ("mpsc_bounded", "5 senders × 1 000 messages, capacity 100"),
        ("mpsc_unbounded", "5 senders × 1 000 messages, unbounded"),
        ("notify_one", "500 wake-ups of 10 waiters by notify_one"),
        ("notify_waiters", "500 wake-ups of 10 waiters by notify_waiters"),
        ("oneshot_request_reply", "1 000 request/reply round trips"),
    ],
    # One thread: ciranda's Flavor::CurrentThread, Tokio's current_thread runtime, a smol
    # Executor run by the block_on thread; everything started and awaited inside block_on.
    "current_thread": [
        ("yield_many", "200 tasks × 1 000 yields, on one thread"),
        ("ping_pong", "1 000 task pairs, one message each way, on one thread"),
        ("chained_spawn", "1 000 recursive spawns, on one thread"),
        ("many_sleeps", "100 000 tasks sleeping seeded-random 0–10 ms, on one thread"),
    ],
    "net": [
        ("tcp_echo", "32 connections × 2 000 round trips of 64 B"),
        ("accept", "one accepted connection: read 64 B, reply 2 B (per connection)"),
    ],
}


def fmt_time(ns):
    # Round to three significant digits first, so that 999.7 µs becomes "1 ms", not "1e+03 µs".
    ns = float(f"{ns:.3g}")
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def load(criterion_dir):
    """{group_id: {function_id: estimates}} from every new/ directory."""
    results = {}
    for bench_json in Path(criterion_dir).rglob("new/benchmark.json"):
        estimates_json = bench_json.with_name("estimates.json")
        if not estimates_json.exists():
            continue
        bench = json.loads(bench_json.read_text())
        estimates = json.loads(estimates_json.read_text())
        group = bench.get("group_id")
        function = bench.get("function_id")
        if not group or function not in RUNTIMES:
            continue
        median = estimates["median"]
        results.setdefault(group, {})[function] = {
            "median": median["point_estimate"],
            "lo": median["confidence_interval"]["lower_bound"],
            "hi": median["confidence_interval"]["upper_bound"],
            "mtime": estimates_json.stat().st_mtime,
        }
    return results


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def combine(runs):
    """{group: {runtime: estimate}} over several runs: the median of the runs' medians,
    with each run's estimate kept (`runs`) so ratios can be taken within a run."""
    combined = {}
    for group in sorted({g for r in runs for g in r}):
        for runtime in RUNTIMES:
            per_run = [r[group].get(runtime) if group in r else None for r in runs]
            present = [e for e in per_run if e]
            if not present:
                continue
            combined.setdefault(group, {})[runtime] = {
                "median": median([e["median"] for e in present]),
                "lo": min(e["lo"] for e in present),
                "hi": max(e["hi"] for e in present),
                "mtime": max(e["mtime"] for e in present),
                "runs": per_run,
            }
    return combined


def combine_memory(memories):
    if not memories:
        return None
    out = dict(memories[-1])
    out["runs"] = sum(m["runs"] for m in memories)
    out["results"] = {}
    for runtime in RUNTIMES:
        values = [m["results"][runtime]["bytes_per_task"] for m in memories if runtime in m["results"]]
        if values:
            out["results"][runtime] = {"bytes_per_task": median(values)}
    return out


def ratio_cell(a, b):
    """Ratio of medians, with the range the medians' 95% intervals allow."""
    if a is None or b is None or b["median"] <= 0:
        return "–", None
    pairs = [(x, y) for x, y in zip(a["runs"], b["runs"]) if x and y and y["median"] > 0]
    if len(pairs) > 1:
        # Several runs: the median of the ratios taken within each run.
        per_run = [x["median"] / y["median"] for x, y in pairs]
        r = median(per_run)
        detail = "runs: " + ", ".join(f"{v:.2f}" for v in per_run)
    else:
        x, y = pairs[0] if pairs else (a, b)
        r = x["median"] / y["median"]
        lo = x["lo"] / y["hi"] if y["hi"] > 0 else float("nan")
        hi = x["hi"] / y["lo"] if y["lo"] > 0 else float("nan")
        detail = f"{lo:.2f}–{hi:.2f}"
    text = f"{r:.2f}"
    if r > 1.0:
        text = f"**{text}**"
    return f"{text} <sub>({detail})</sub>", r


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def machine():
    cores = os.cpu_count()
    try:
        cores = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip())
    except (OSError, ValueError):
        pass
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except (OSError, ValueError):
        pass
    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "rustc unknown"
    return cores, model, mem, f"Linux {platform.release()}", rustc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion", action="append", default=[],
                    help="criterion output directory of one run (repeatable; default target/criterion)")
    ap.add_argument("--out", default="docs/benchmarks.md", help="markdown file to write")
    ap.add_argument("--command", default="cargo bench -p ciranda-benches", help="the exact command that produced the data")
    ap.add_argument("--duration", default="", help="wall time of the run, for the record")
    ap.add_argument("--revision", default="", help="the commit the run measured (and whether the tree was clean)")
    ap.add_argument("--note", action="append", default=[], help="extra paragraph (repeatable)")
    args = ap.parse_args()

    dirs = args.criterion or ["target/criterion"]
    runs = [load(d) for d in dirs]
    for d, r in zip(dirs, runs):
        if not r:
            sys.exit(f"no criterion results under {d}")
    results = combine(runs)
    memories = [json.loads((Path(d) / "memory.json").read_text())
                for d in dirs if (Path(d) / "memory.json").exists()]
    memory = combine_memory(memories)

    cores, model, mem, kernel, rustc = machine()
    workers = memory["workers"] if memory else None
    newest = max(e["mtime"] for g in results.values() for e in g.values())
    run_date = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)

    out = []
    out.append("# Benchmarks: ciranda side by side with Tokio and smol\n")
    out.append(
        "Generated by `benches/report.py` from criterion's estimates; do not edit by hand. "
        "Every workload runs on ciranda, Tokio (multi-thread runtime) and smol (an "
        "`async-executor` run by one thread per worker, with `async-io`) in the same process, "
        "one after the other, with the same number of worker threads. Cells are criterion's "
        "median time per iteration; the ratios are ciranda's median over the other runtime's "
        "(**lower is better for ciranda**; above 1.0 in bold). With one run, the small print is "
        "the range the medians' 95% confidence intervals allow; with several runs, the time "
        "cells are the median of the runs' medians, the ratio is the median of the ratios "
        "taken within each run, and the small print lists every run's ratio. The workloads "
        "and their constants are described in each bench target's header (`benches/*.rs`).\n"
    )
    out.append("## Run\n")
    out.append(f"- Date: {run_date:%Y-%m-%d %H:%M} UTC (newest estimate)")
    out.append(f"- Machine: {cores} cores ({model}), {mem}, {kernel}")
    out.append(f"- Toolchain: {rustc}; `[profile.bench]` (release, thin LTO, 1 codegen unit)")
    if workers:
        out.append(f"- Worker threads per runtime: {workers}")
    out.append(f"- Full runs combined: {len(dirs)}")
    if args.revision:
        out.append(f"- Revision: {args.revision}")
    out.append(f"- Command: `{args.command}`")
    if args.duration:
        out.append(f"- Wall time of the run: {args.duration}")
    criterion_args = " ".join(f"--criterion {d}" for d in dirs)
    out.append("- Regenerate: run the command (once per run, moving `criterion/` aside in "
               f"between), then `python3 benches/report.py {criterion_args} --out {args.out} "
               "--command \"...\"`")
    out.append("")
    for note in args.note:
        out.append(note + "\n")

    summary = []
    seen = set()
    for section, workloads in WORKLOADS.items():
        names = [w for w, _ in workloads]
        extra = sorted(
            g.split("/", 1)[1]
            for g in results
            if g.startswith(section + "/") and g.split("/", 1)[1] not in names
        )
        rows = [(w, d) for w, d in workloads if f"{section}/{w}" in results]
        rows += [(w, "") for w in extra]
        if not rows:
            continue
        out.append(f"## {section}\n")
        out.append("| workload | one iteration | ciranda | Tokio | smol | ciranda/Tokio | ciranda/smol |")
        out.append("|---|---|--:|--:|--:|--:|--:|")
        vs_tokio, vs_smol = [], []
        for w, desc in rows:
            group = f"{section}/{w}"
            seen.add(group)
            est = results[group]
            c, t, s = (est.get(r) for r in RUNTIMES)
            cells = [fmt_time(e["median"]) if e else "–" for e in (c, t, s)]
            rt_text, rt = ratio_cell(c, t)
            rs_text, rs = ratio_cell(c, s)
            vs_tokio.append(rt)
            vs_smol.append(rs)
            out.append(f"| `{w}` | {desc} | {' | '.join(cells)} | {rt_text} | {rs_text} |")
        gt, gs = geomean(vs_tokio), geomean(vs_smol)
        out.append(
            f"| *geometric mean* | | | | | {f'{gt:.2f}' if gt else '–'} | {f'{gs:.2f}' if gs else '–'} |"
        )
        out.append("")
        summary.append((section, gt, gs,
                        sum(1 for r in vs_tokio if r and r > 1.0), sum(1 for r in vs_smol if r and r > 1.0), len(rows)))

    others = sorted(g for g in results if g not in seen)
    if others:
        out.append("## other groups found\n")
        out.append("| group | " + " | ".join(RUNTIMES) + " |")
        out.append("|---|" + "--:|" * len(RUNTIMES))
        for g in others:
            out.append(f"| `{g}` | " + " | ".join(
                fmt_time(results[g][r]["median"]) if r in results[g] else "–" for r in RUNTIMES) + " |")
        out.append("")

    if memory:
        res = memory["results"]
        out.append("## memory\n")
        out.append(
            f"Resident bytes per idle task: {memory['tasks']:,} spawned tasks, each polled once "
            "and then pending forever; growth of the resident set (`/proc/self/statm`) divided "
            f"by the number of tasks, each runtime in a fresh process, median over {memory['runs']} "
            "measurements (the `memory` bench target).\n"
        )
        out.append("| quantity | ciranda | Tokio | smol | ciranda/Tokio | ciranda/smol |")
        out.append("|---|--:|--:|--:|--:|--:|")
        b = {r: res[r]["bytes_per_task"] for r in RUNTIMES if r in res}

        def mratio(x, y):
            if x is None or not y:
                return "–"
            v = x / y
            return f"**{v:.2f}**" if v > 1.0 else f"{v:.2f}"

        c = b.get("ciranda")
        out.append(
            "| bytes per idle task | "
            + " | ".join(f"{b[r]:.0f}" if r in b else "–" for r in RUNTIMES)
            + f" | {mratio(c, b.get('tokio'))} | {mratio(c, b.get('smol'))} |"
        )
        out.append("")

    if summary:
        out.append("## summary\n")
        out.append("| section | geomean ciranda/Tokio | geomean ciranda/smol | losses to Tokio | losses to smol |")
        out.append("|---|--:|--:|--:|--:|")
        for section, gt, gs, lt, ls, n in summary:
            out.append(
                f"| {section} | {f'{gt:.2f}' if gt else '–'} | {f'{gs:.2f}' if gs else '–'} | {lt} of {n} | {ls} of {n} |"
            )
        out.append("")

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
