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

The page is made in two steps, so that it can be made again without the criterion
directories: the numbers are computed into a data file (--data, kept in the repository),
and the page is rendered from that file plus the hand-written notes in --notes:
`run.md` goes right after the run facts, `http.md` (the HTTP benchmark, which criterion does
not run) after the tables, and `log.md` (dated A/B measurements made between full runs) at
the end. `--from-data` skips the first step, so

    python3 benches/report.py --from-data benches/report-data.json

reproduces docs/benchmarks.md exactly (benches/test_report.py checks that it does).

Usage, after new runs (criterion resolves a relative CARGO_TARGET_DIR from the bench's own
directory, so `CARGO_TARGET_DIR=target-bench` puts its output in benches/target-bench/criterion;
move that directory aside between runs):
    python3 benches/report.py --criterion benches/target-bench/criterion --out docs/benchmarks.md \
        --command "CARGO_TARGET_DIR=target-bench cargo bench -p ciranda-benches" \
        [--duration "14 min"] [--revision "abc1234 (clean)"] [--machine "..."] [--note "text"]
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
    "shapes": [
        ("mpsc_bounded_p1_c1", "1 sender share 16 000 messages, capacity 1, received in `block_on`"),
        ("mpsc_bounded_p1_c32", "1 sender share 16 000 messages, capacity 32, received in `block_on`"),
        ("mpsc_bounded_p1_c1024", "1 sender share 16 000 messages, capacity 1024, received in `block_on`"),
        ("mpsc_bounded_p4_c1", "4 senders share 16 000 messages, capacity 1, received in `block_on`"),
        ("mpsc_bounded_p4_c32", "4 senders share 16 000 messages, capacity 32, received in `block_on`"),
        ("mpsc_bounded_p4_c1024", "4 senders share 16 000 messages, capacity 1024, received in `block_on`"),
        ("mpsc_bounded_p16_c1", "16 senders share 16 000 messages, capacity 1, received in `block_on`"),
        ("mpsc_bounded_p16_c32", "16 senders share 16 000 messages, capacity 32, received in `block_on`"),
        ("mpsc_bounded_p16_c1024", "16 senders share 16 000 messages, capacity 1024, received in `block_on`"),
        ("mpsc_bounded_p16_c1024_in_task", "the same with 16 senders, capacity 1024, received in a task"),
        ("sleeps_outside_10000", "10 000 seeded-random 0–10 ms sleeps, each spawned from outside"),
        ("sleeps_outside_100000", "100 000 seeded-random 0–10 ms sleeps, each spawned from outside"),
        ("sleeps_in_task_10000", "10 000 seeded-random 0–10 ms sleeps spawned from a task"),
        ("mutex_contended_t2", "2 tasks × 1 000 locks"),
        ("mutex_contended_t32", "32 tasks × 1 000 locks"),
        ("semaphore_p1", "1 permit, 16 tasks × 500 acquire/yield/release"),
        ("semaphore_p64", "64 permits, 16 tasks × 500 acquire/yield/release"),
        ("notify_one_w1", "500 wake-ups of 1 waiter by notify_one"),
        ("notify_one_w100", "500 wake-ups of 100 waiters by notify_one"),
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


DATA = "benches/report-data.json"
NOTES = "benches/notes"
OUT = "docs/benchmarks.md"


def compute(dirs, command, duration="", revision="", machine_text="", notes=()):
    """The page's numbers, from criterion directories (one per full run), as plain data."""
    runs = [load(d) for d in dirs]
    for d, r in zip(dirs, runs):
        if not r:
            sys.exit(f"no criterion results under {d}")
    results = combine(runs)
    memories = [json.loads((Path(d) / "memory.json").read_text())
                for d in dirs if (Path(d) / "memory.json").exists()]
    memory = combine_memory(memories)

    cores, model, mem, kernel, rustc = machine()
    newest = max(e["mtime"] for g in results.values() for e in g.values())
    run_date = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)
    data = {
        "run": {
            "date": f"{run_date:%Y-%m-%d %H:%M}",
            "machine": machine_text or f"{cores} cores ({model}), {mem}, {kernel}",
            "toolchain": rustc,
            "workers": memory["workers"] if memory else None,
            "runs": len(dirs),
            "revision": revision,
            "command": command,
            "duration": duration,
        },
        "notes": list(notes),
        "sections": [],
        "others": [],
        "memory": None,
    }

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
        out_rows = []
        for w, desc in rows:
            group = f"{section}/{w}"
            seen.add(group)
            est = results[group]
            c, t, s = (est.get(r) for r in RUNTIMES)
            out_rows.append({
                "workload": w,
                "desc": desc,
                "times": [e["median"] if e else None for e in (c, t, s)],
                "vs_tokio": ratio(c, t),
                "vs_smol": ratio(c, s),
            })
        data["sections"].append({
            "name": section,
            "rows": out_rows,
            "geomean": [geomean([r[k]["ratio"] for r in out_rows if r[k]]) for k in ("vs_tokio", "vs_smol")],
        })

    for g in sorted(g for g in results if g not in seen):
        data["others"].append({
            "group": g,
            "times": [results[g][r]["median"] if r in results[g] else None for r in RUNTIMES],
        })

    if memory:
        res = memory["results"]
        data["memory"] = {
            "tasks": memory["tasks"],
            "runs": memory["runs"],
            "bytes": [res[r]["bytes_per_task"] if r in res else None for r in RUNTIMES],
        }
    return data


def ratio(a, b):
    """Ratio of medians: {"ratio", "detail"} (every run's ratio, or with one run the range the
    medians' 95% intervals allow), or None when a side is missing."""
    if a is None or b is None or b["median"] <= 0:
        return None
    pairs = [(x, y) for x, y in zip(a["runs"], b["runs"]) if x and y and y["median"] > 0]
    if len(pairs) > 1:
        # Several runs: the median of the ratios taken within each run.
        per_run = [x["median"] / y["median"] for x, y in pairs]
        return {"ratio": median(per_run), "detail": "runs: " + ", ".join(f"{v:.2f}" for v in per_run)}
    x, y = pairs[0] if pairs else (a, b)
    lo = x["lo"] / y["hi"] if y["hi"] > 0 else float("nan")
    hi = x["hi"] / y["lo"] if y["lo"] > 0 else float("nan")
    return {"ratio": x["median"] / y["median"], "detail": f"{lo:.2f}–{hi:.2f}"}


def ratio_cell(r):
    if r is None:
        return "–"
    text = f"{r['ratio']:.2f}"
    if r["ratio"] > 1.0:
        text = f"**{text}**"
    return f"{text} <sub>({r['detail']})</sub>"


def two(v):
    return f"{v:.2f}" if v else "–"


def note(notes_dir, name):
    """The hand-written note `name` (without its final newline), or None."""
    path = Path(notes_dir) / name
    return path.read_text().rstrip("\n") if path.exists() else None


def render(data, notes_dir=NOTES):
    """The page: `data` (from `compute` or the data file) and the notes, as markdown."""
    run = data["run"]
    out = []
    out.append("# Benchmarks: ciranda side by side with Tokio and smol\n")
    out.append(
        "Generated by `benches/report.py` from criterion's estimates and the notes in "
        "`benches/notes/`; do not edit by hand. "
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
    out.append(f"- Date: {run['date']} UTC (newest estimate)")
    out.append(f"- Machine: {run['machine']}")
    out.append(f"- Toolchain: {run['toolchain']}; `[profile.bench]` (release, thin LTO, 1 codegen unit)")
    if run.get("workers"):
        out.append(f"- Worker threads per runtime: {run['workers']}")
    out.append(f"- Full runs combined: {run['runs']}")
    if run.get("revision"):
        out.append(f"- Revision: {run['revision']}")
    out.append(f"- Command: `{run['command']}`")
    if run.get("duration"):
        out.append(f"- Wall time of the run: {run['duration']}")
    out.append(f"- Regenerate this page: `python3 benches/report.py --from-data {DATA}` (the "
               f"numbers from `{DATA}`, the notes from `{NOTES}/`). After new runs (the command "
               "once per run, moving `criterion/` aside in between): `python3 benches/report.py "
               "--criterion DIR [--criterion DIR ...] --command \"...\"`, which rewrites the data "
               "file and this page")
    out.append("")
    for paragraph in data.get("notes", []):
        out.append(paragraph + "\n")
    run_note = note(notes_dir, "run.md")
    if run_note is not None:
        out.append(run_note + "\n")

    summary = []
    for section in data["sections"]:
        out.append(f"## {section['name']}\n")
        out.append("| workload | one iteration | ciranda | Tokio | smol | ciranda/Tokio | ciranda/smol |")
        out.append("|---|---|--:|--:|--:|--:|--:|")
        for row in section["rows"]:
            cells = [fmt_time(t) if t is not None else "–" for t in row["times"]]
            out.append(f"| `{row['workload']}` | {row['desc']} | {' | '.join(cells)} | "
                       f"{ratio_cell(row['vs_tokio'])} | {ratio_cell(row['vs_smol'])} |")
        gt, gs = section["geomean"]
        out.append(f"| *geometric mean* | | | | | {two(gt)} | {two(gs)} |")
        out.append("")
        losses = [sum(1 for r in section["rows"] if r[k] and r[k]["ratio"] > 1.0)
                  for k in ("vs_tokio", "vs_smol")]
        summary.append((section["name"], gt, gs, *losses, len(section["rows"])))

    if data["others"]:
        out.append("## other groups found\n")
        out.append("| group | " + " | ".join(RUNTIMES) + " |")
        out.append("|---|" + "--:|" * len(RUNTIMES))
        for other in data["others"]:
            out.append(f"| `{other['group']}` | " + " | ".join(
                fmt_time(t) if t is not None else "–" for t in other["times"]) + " |")
        out.append("")

    memory = data["memory"]
    if memory:
        out.append("## memory\n")
        out.append(
            f"Resident bytes per idle task: {memory['tasks']:,} spawned tasks, each polled once "
            "and then pending forever; growth of the resident set (`/proc/self/statm`) divided "
            f"by the number of tasks, each runtime in a fresh process, median over {memory['runs']} "
            "measurements (the `memory` bench target).\n"
        )
        out.append("| quantity | ciranda | Tokio | smol | ciranda/Tokio | ciranda/smol |")
        out.append("|---|--:|--:|--:|--:|--:|")
        b = memory["bytes"]

        def mratio(x, y):
            if x is None or not y:
                return "–"
            v = x / y
            return f"**{v:.2f}**" if v > 1.0 else f"{v:.2f}"

        out.append(
            "| bytes per idle task | "
            + " | ".join(f"{v:.0f}" if v is not None else "–" for v in b)
            + f" | {mratio(b[0], b[1])} | {mratio(b[0], b[2])} |"
        )
        out.append("")

    if summary:
        out.append("## summary\n")
        out.append("| section | geomean ciranda/Tokio | geomean ciranda/smol | losses to Tokio | losses to smol |")
        out.append("|---|--:|--:|--:|--:|")
        for name, gt, gs, lt, ls, n in summary:
            out.append(f"| {name} | {two(gt)} | {two(gs)} | {lt} of {n} | {ls} of {n} |")
        out.append("")

    http_note = note(notes_dir, "http.md")
    if http_note is not None:
        out.append(http_note + "\n")
    log_note = note(notes_dir, "log.md")
    if log_note is not None:
        out.append(log_note + "\n")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion", action="append", default=[],
                    help="criterion output directory of one run (repeatable; default target/criterion)")
    ap.add_argument("--from-data", default="",
                    help="render from this data file instead of criterion directories")
    ap.add_argument("--data", default=DATA, help="where to write the computed numbers")
    ap.add_argument("--notes", default=NOTES, help="directory of the hand-written notes")
    ap.add_argument("--out", default=OUT, help="markdown file to write")
    ap.add_argument("--command", default="cargo bench -p ciranda-benches", help="the exact command that produced the data")
    ap.add_argument("--duration", default="", help="wall time of the run, for the record")
    ap.add_argument("--revision", default="", help="the commit the run measured (and whether the tree was clean)")
    ap.add_argument("--machine", default="", help="the machine line, instead of the one read from /proc")
    ap.add_argument("--note", action="append", default=[], help="extra paragraph (repeatable)")
    args = ap.parse_args(argv)

    if args.from_data:
        data = json.loads(Path(args.from_data).read_text())
    else:
        data = compute(args.criterion or ["target/criterion"], args.command, args.duration,
                       args.revision, args.machine, args.note)
        Path(args.data).parent.mkdir(parents=True, exist_ok=True)
        Path(args.data).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {args.data}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(render(data, args.notes))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
