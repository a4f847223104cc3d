"""What one polling tick and one launcher cost: CPU, peak memory, imports.

A tick is measured on live sessions (pulls held at the WAN, workers
running), exactly as LuCI polls them: one multi-session pullStatus call
against a bare interpreter start and against one call per session; the same
for `list`, which rpcd runs for every plugin when it starts.
"""

import json
import statistics
from collections import defaultdict

from figures import Spread, table
from measure import (
    MeasuredHarness,
    Usage,
    has_gnu_time,
    import_times,
    launcher_path,
)

BARE = "bare `python3 -c pass`"
MULTI = "pullStatus, 4 sessions in one call"
SINGLE = "pullStatus, 4 single-session calls"
CHECK = "checkStatus {jobId} (window tick)"
LISTS = ("podman.image", "podman")


def _total(records: list[Usage], what: str) -> Usage:
    return Usage(
        what,
        sum(r.wall for r in records),
        sum(r.cpu for r in records),
        max(r.rss_kb for r in records),
    )


def measure_ticks(
    harness: MeasuredHarness, session_ids: list[str], job_id: str, repeats: int
) -> dict:
    """{label: [Usage]} for the calls of one tick, interleaved, repeats times."""
    polls = [{"sessionId": sid, "offset": 0} for sid in session_ids]
    found = defaultdict(list)
    for turn in range(repeats + 2):
        sample = {BARE: harness.bare_usage()}
        harness.reply("podman.image", "pullStatus", {"sessions": polls})
        sample[MULTI] = harness.take_usage()[-1]
        for poll in polls:
            harness.reply("podman.image", "pullStatus", poll)
        sample[SINGLE] = _total(harness.take_usage(), SINGLE)
        harness.reply("podman", "checkStatus", {"jobId": job_id})
        sample[CHECK] = harness.take_usage()[-1]
        for plugin in LISTS:
            sample[f"list {plugin}"] = harness.list_usage(plugin)
        harness.take_usage()
        if turn >= 2:  # the first two warm the page cache and the .pyc files
            for label, usage in sample.items():
                found[label].append(usage)
    return found


def render_ticks(found: dict) -> tuple[list[str], float]:
    """The tick table, and the multi-session call's CPU as a multiple of bare."""
    bare = statistics.median(u.cpu for u in found[BARE])
    rows = []
    for label, usages in found.items():
        cpu = Spread.of(u.cpu for u in usages)
        rows.append(
            [
                label,
                cpu.fmt(scale=1000, digits=1, unit=" ms"),
                f"{cpu.median / bare:.2f}x",
                Spread.of(u.wall for u in usages).fmt(scale=1000, digits=1, unit=" ms"),
                len(usages),
            ]
        )
    ratio = statistics.median(u.cpu for u in found[MULTI]) / bare
    header = ["call", "CPU user+sys", "x bare", "wall", "n"]
    return table(header, rows), ratio


def import_breakdown(
    harness: MeasuredHarness, session_ids: list[str], repeats: int
) -> dict:
    """Median -X importtime figures of a bare start, a tick and `list`."""
    stdin = json.dumps(
        {"sessions": [{"sessionId": sid, "offset": 0} for sid in session_ids]},
        separators=(",", ":"),
    ).encode()
    image = launcher_path(harness, "podman.image")
    cases = {
        "bare": (["-c", "pass"], None),
        "pullStatus": ([image, "call", "pullStatus"], stdin),
        "list": ([image, "list"], None),
    }
    result = {}
    for case, (argv, data) in cases.items():
        samples = [import_times(harness, argv, data) for _ in range(repeats)]
        modules = {}
        for name in samples[0]:
            runs = [s[name] for s in samples if name in s]
            modules[name] = (
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                runs[0][2],
            )
        result[case] = modules
    return result


def render_imports(breakdown: dict, case: str, top: int = 15) -> list[str]:
    """Modules `case` imports beyond a bare start, heaviest first."""
    bare = breakdown["bare"]
    extra = {n: v for n, v in breakdown[case].items() if n not in bare}
    bare_total = sum(own for own, _, _ in bare.values())
    extra_total = sum(own for own, _, _ in extra.values())
    lines = [
        f"`-X importtime`, median of runs: a bare start imports {len(bare)} modules "
        f"in {bare_total / 1000:.1f} ms; `{case}` imports {len(extra)} more in "
        f"{extra_total / 1000:.1f} ms (self times; -X importtime itself adds some).",
        "",
    ]
    heaviest = sorted(extra.items(), key=lambda item: -item[1][0])[:top]
    rows = [
        [f"`{name}`", f"{own / 1000:.2f} ms", f"{total / 1000:.2f} ms", f"`{by}`"]
        for name, (own, total, by) in heaviest
    ]
    ours = sorted(
        (n for n in extra if n.startswith("podman_rpcd")),
        key=lambda n: -extra[n][1],
    )
    for name in ours:
        if name not in dict(heaviest):
            own, total, by = extra[name]
            rows.append(
                [
                    f"`{name}`",
                    f"{own / 1000:.2f} ms",
                    f"{total / 1000:.2f} ms",
                    f"`{by}`",
                ]
            )
    return lines + table(["module", "self", "with its imports", "imported by"], rows)


def measure_memory(
    harness: MeasuredHarness, session_ids: list[str], job_id: str, image: str, runs: int
) -> dict:
    """{process: [peak RSS KiB]} of the launcher calls, under GNU time."""
    polls = [{"sessionId": sid, "offset": 0} for sid in session_ids]
    calls = [
        ("podman.image", "pullStatus", {"sessions": polls}),
        ("podman", "checkStatus", {"jobId": job_id}),
        ("podman", "containers", {}),
        ("podman.image", "inspect", {"image": image}),
    ]
    found = defaultdict(list)
    if not has_gnu_time():
        return found
    for _ in range(runs):
        _, rss = harness.peak_rss(
            "python3 -c pass", [harness.interpreter, "-c", "pass"]
        )
        found["python3 -c pass"].append(rss)
        for plugin in LISTS:
            argv = harness._argv(plugin, "list")
            found[f"{plugin} list"].append(harness.peak_rss("list", argv)[1])
        for plugin, method, args in calls:
            found[f"{plugin} {method}"].append(
                harness.call_rss(plugin, method, args)[1]
            )
    return found


def render_memory(rss: dict, usages: list[Usage]) -> list[str]:
    """Peak RSS and CPU per process kind.

    Launchers' RSS from GNU time (rss), workers' from wait4 (usages); CPU
    from wait4 of every process the runs started.
    """
    by_kind = defaultdict(list)
    for usage in usages:
        by_kind[usage.what].append(usage)
    for what in ("pull worker", "check worker"):
        rss[what] = [u.rss_kb for u in by_kind[what]]
    rows = []
    for what in sorted(set(rss) | set(by_kind), key=lambda w: ("worker" in w, w)):
        memory = rss.get(what)
        cpu = [u.cpu for u in by_kind.get(what, [])]
        rows.append(
            [
                what,
                Spread.of(memory).fmt(scale=1 / 1024, unit=" MiB") if memory else "",
                len(memory or []),
                Spread.of(cpu).fmt(scale=1000, digits=1, unit=" ms") if cpu else "",
                len(cpu),
            ]
        )
    header = ["process", "peak RSS", "n", "CPU user+sys", "n"]
    return table(header, rows)
