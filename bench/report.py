"""Turn the benchmark's measurements into the tables of RESULTS.md."""

import statistics
from collections import defaultdict

from costs import render_imports, render_memory, render_ticks
from figures import Spread, table
from fleet import MB

STRATEGY_ORDER = ("sequential", "batches", "window")
TITLES = {
    "sequential": "sequential",
    "batches": "batches of 4",
    "window": "window of 4",
}
TICK_TARGET = 1.5
SPEEDUP_TARGET = (11, 3.7)


def _seconds(values) -> str:
    return Spread.of(values).fmt(digits=1, unit=" s")


class Report:
    """Collects the run records and renders them."""

    def __init__(self, records: list[dict], settings: dict, images: list):
        self.records = records
        self.settings = settings
        self.images = {image.repo: image for image in images}
        self.walls = defaultdict(list)  # (count, strategy) -> [s]
        self.bytes = defaultdict(list)  # count -> [bytes]
        for record in records:
            if record["kind"] == "table":
                key = (record["count"], record["strategy"])
                self.walls[key].append(record["wall"])
                self.bytes[record["count"]].append(record["reply_bytes"])

    def median(self, count: int, strategy: str) -> float:
        return statistics.median(self.walls[(count, strategy)])

    # -- 1 and 2: the expected-performance table and the physical limit --------

    def single_pulls(self) -> dict:
        """{repo: [seconds]}: each image's pull time, alone on the link."""
        found = defaultdict(list)
        for record in self.records:
            if record["kind"] == "table" and record["strategy"] == "sequential":
                for repo, seconds in record["pull_durations"].items():
                    found[repo].append(seconds)
        return found

    def limit(self, count: int) -> tuple[float, str]:
        """The physical limit of a row and what sets it."""
        by_link = statistics.median(self.bytes[count]) / self.settings["link_rate"]
        pulls = self.single_pulls()
        repos = [f"app{index:02d}" for index in range(count)]
        slowest = max(repos, key=lambda r: statistics.median(pulls.get(r, [0])))
        by_pull = statistics.median(pulls.get(slowest, [0]))
        if by_link >= by_pull:
            return by_link, "bytes / link"
        return (
            by_pull,
            f"slowest pull ({slowest}, {self.images[slowest].size / MB:.0f} MB)",
        )

    def slot_floor(self, count: int) -> float:
        """The least any 4-at-a-time check can take: the limit, or the row's
        single pulls shared perfectly over 4 slots, whichever is larger."""
        pulls = self.single_pulls()
        work = sum(
            statistics.median(pulls[f"app{index:02d}"])
            for index in range(count)
            if f"app{index:02d}" in pulls
        )
        return max(self.limit(count)[0], work / 4)

    def performance(self) -> list[str]:
        rows = []
        for count in self.settings["rows"]:
            seq = self.median(count, "sequential")
            new = [i for i in self.images.values() if _row_repo(i, count) and i.updated]
            row = [
                count,
                f"{len(new)} ({sum(i.new_bytes for i in new) / MB:.0f} MB)",
            ]
            for strategy in STRATEGY_ORDER:
                row.append(_seconds(self.walls[(count, strategy)]))
            for strategy in STRATEGY_ORDER[1:]:
                row.append(f"{seq / self.median(count, strategy):.2f}x")
            rows.append(row)
        header = ["containers", "newer images (bytes)"]
        header += [f"{TITLES[s]}" for s in STRATEGY_ORDER]
        header += ["speed-up batches", "speed-up window"]
        return table(header, rows)

    def limits(self) -> list[str]:
        rows = []
        for count in self.settings["rows"]:
            limit, basis = self.limit(count)
            link = statistics.median(self.bytes[count]) / self.settings["link_rate"]
            seq = self.median(count, "sequential")
            row = [
                count,
                Spread.of(self.bytes[count]).fmt(scale=1 / MB, digits=1, unit=" MB"),
                f"{link:.1f} s",
                f"{limit:.1f} s: {basis}",
                f"{seq / limit:.2f}x",
            ]
            row += [f"{self.median(count, s) / limit:.2f}" for s in STRATEGY_ORDER]
            floor = self.slot_floor(count)
            row += [f"{floor:.1f} s", f"{self.median(count, 'window') / floor:.2f}"]
            rows.append(row)
        header = [
            "containers",
            "over the link",
            "bytes / link",
            "limit",
            "best possible speed-up",
        ] + [f"{TITLES[s]} / limit" for s in STRATEGY_ORDER]
        header += ["4-slot floor", "window / floor"]
        return table(header, rows) + [
            "4-slot floor: the limit, or the row's single pulls shared perfectly "
            "over 4 slots",
            "(their sum / 4), whichever is larger: the best any strategy that pulls "
            "4 at a time can do.",
            "",
        ]

    def verdicts(self) -> list[str]:
        lines = []
        count, target = SPEEDUP_TARGET
        if count in self.settings["rows"]:
            got = self.median(count, "sequential") / self.median(count, "window")
            limit, _ = self.limit(count)
            best = self.median(count, "sequential") / limit
            lines.append(
                f"- Speed-up of the window for {count} containers: {got:.2f}x "
                f"(target >= {target}x: {'met' if got >= target else 'MISSED'}; "
                f"the physical limit allows {best:.2f}x on this mix)."
            )
        ahead = [
            f"{c}: {self.median(c, 'window'):.1f} s vs "
            f"{self.median(c, 'batches'):.1f} s"
            for c in self.settings["rows"]
        ]
        behind = [
            c
            for c in self.settings["rows"]
            if self.median(c, "window") > self.median(c, "batches") * 1.02
        ]
        lines.append(
            "- Window vs batches (median): "
            + "; ".join(ahead)
            + (
                " -> the window is at or ahead of batches in every row."
                if not behind
                else f" -> the window is BEHIND batches for {behind} containers."
            )
        )
        return lines + [""]

    def typical_pull(self) -> list[str]:
        """How long one pull of an updated image takes alone (the calibration)."""
        pulls = self.single_pulls()
        newer = [
            statistics.median(pulls[repo])
            for repo, image in self.images.items()
            if image.updated and repo in pulls
        ]
        same = [
            statistics.median(pulls[repo])
            for repo, image in self.images.items()
            if not image.updated and repo in pulls
        ]
        return [
            f"- One pull alone on the link: {Spread.of(newer).fmt(unit=' s')} for "
            f"an image with a newer version, {Spread.of(same).fmt(unit=' s')} for "
            "one without (manifest only).",
            "",
        ]

    def pull_times(self) -> list[str]:
        pulls = self.single_pulls()
        rows = []
        for repo, image in self.images.items():
            if repo not in pulls or not repo.startswith("app"):
                continue
            rows.append(
                [
                    repo,
                    f"{image.size / MB:.1f} MB / {len(image.layers)}",
                    "newer" if image.updated else "same",
                    _seconds(pulls[repo]),
                ]
            )
        return table(["image", "size / layers", "registry has", "single pull"], rows)

    # -- bytes and CPU of each run -----------------------------------------------

    def transfers(self) -> list[str]:
        rows = []
        for record in self.records:
            ratio = record["reply_bytes"] / max(record["expected_bytes"], 1)
            rows.append(
                [
                    record["kind"],
                    record["count"],
                    TITLES[record["strategy"]],
                    record["rep"] + 1,
                    f"{record['wall']:.1f} s",
                    f"{record['reply_bytes'] / MB:.2f} MB",
                    f"{ratio:.3f}",
                    record["connections"],
                    len(record["manifest_gets"]),
                    f"{record['product_cpu']:.2f} s",
                    f"{record['podman_cpu']:.2f} s",
                    len(record["calls"]),
                    "ok" if record["ok"] else "; ".join(record["problems"]),
                ]
            )
        header = [
            "set",
            "containers",
            "strategy",
            "run",
            "wall",
            "over the link",
            "/ newer blobs",
            "connections",
            "manifest GETs",
            "CPU: product",
            "CPU: Podman",
            "rpcd calls",
            "check",
        ]
        return table(header, rows)

    def cpu_per_strategy(self) -> list[str]:
        rows = []
        for count in self.settings["rows"]:
            for strategy in STRATEGY_ORDER:
                runs = [
                    r
                    for r in self.records
                    if r["kind"] == "table"
                    and r["count"] == count
                    and r["strategy"] == strategy
                ]
                rows.append(
                    [
                        count,
                        TITLES[strategy],
                        _seconds(r["product_cpu"] for r in runs),
                        _seconds(r["podman_cpu"] for r in runs),
                        Spread.of(len(r["calls"]) for r in runs).fmt(digits=0),
                    ]
                )
        header = ["containers", "strategy", "CPU: launchers + workers"]
        header += ["CPU: Podman service", "rpcd calls"]
        return table(header, rows)

    # -- 3: shared images ----------------------------------------------------------

    def shared(self) -> list[str]:
        rows = []
        for record in self.records:
            if record["kind"] != "shared":
                continue
            repos = sorted({repo for repo, _ in record["manifest_gets"]})
            rows.append(
                [
                    TITLES[record["strategy"]],
                    record["rep"] + 1,
                    f"{record['wall']:.1f} s",
                    record["checked"],
                    record["pulls"],
                    record["sessions"],
                    f"{len(record['manifest_gets'])} ({len(repos)} repositories)",
                    "ok" if record["ok"] else "; ".join(record["problems"]),
                ]
            )
        header = [
            "strategy",
            "run",
            "wall",
            "containers",
            "pulls reported",
            "pull sessions in state dir",
            "manifest GETs at the link",
            "check",
        ]
        return table(header, rows)


def _row_repo(image, count: int) -> bool:
    return image.repo.startswith("app") and int(image.repo[3:]) < count


def render(bench, ticks: dict, imports: dict, settings: dict) -> str:
    """The whole RESULTS.md."""
    report = Report(bench.records, settings, bench.table + bench.shared)
    tick_table, tick_ratio = render_ticks(ticks)
    plan = bench.plan
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (bench/run.py"
        + (" --quick" if settings["quick"] else "")
        + "); see docs/bench.md. Each figure is the median of the runs, with",
        "(min-max) when there is more than one run.",
        "",
        "## Set-up",
        "",
    ]
    lines += table(["machine", ""], [[k, v] for k, v in settings["machine"]])
    lines += [
        f"- WAN between Podman and the registry: {bench.shape.describe()}.",
        "  User-space proxy on loopback (bench/wan.py): one-way delay per byte, a",
        "  pacing bucket per connection, one FIFO schedule for the whole link.",
        f"- Client polling tick {bench.tick} s for every strategy (LuCI's page "
        "uses 1 s);",
        "  checkUpdates is called with `wait: 25`, 4 pulls at a time.",
        f"- {plan.repeats} run(s) of each strategy per row, strategies rotated; "
        "before every run the",
        "  newer images are removed from Podman's storage, and every run is "
        "checked: the updates",
        "  found, every newer blob fetched, bytes over the link / newer blobs in "
        "[1.0, 1.05].",
        f"- Images: random layers, scale {plan.scale}; a row of N containers "
        "uses app00..app(N-1),",
        "  each container its own image; even-numbered ones have a newer version.",
        "",
        "## 1. Wall time per strategy",
        "",
    ]
    lines += report.performance()
    lines += report.verdicts()
    lines += ["## 2. Physical limit", ""]
    lines += [
        "Limit = the larger of (bytes over the link / link bandwidth) and the "
        "slowest single pull",
        "of the row (each image's pull time alone on the link, from the "
        "sequential runs).",
        "",
    ]
    lines += report.limits()
    lines += report.typical_pull()
    lines += ["Single pulls (pull session start to finish, sequential runs):", ""]
    lines += report.pull_times()
    lines += ["## 3. 11 containers sharing 5 images", ""]
    lines += report.shared()
    lines += ["## 4. Cost of one polling tick (4 live sessions)", ""]
    lines += tick_table
    verdict = "met" if tick_ratio <= TICK_TARGET else "MISSED"
    lines += [
        f"- One multi-session pullStatus tick costs {tick_ratio:.2f}x a bare "
        f"interpreter start (target <= {TICK_TARGET}x: {verdict}).",
        "",
        "Where a tick's time goes beyond a bare start:",
        "",
    ]
    lines += render_imports(imports, "pullStatus")
    lines += ["The same for `list`:", ""]
    lines += render_imports(imports, "list", top=8)
    lines += ["## 5. Peak memory and CPU per process", ""]
    lines += [
        "Launchers' peak RSS under GNU time (wait4 would report this benchmark's "
        "own, inherited",
        "across fork); workers' from wait4; CPU from wait4 of every process the "
        "runs started.",
        "",
    ]
    lines += render_memory(bench.rss, bench.usages)
    lines += ["## CPU per check", ""]
    lines += report.cpu_per_strategy()
    lines += ["## Every run", ""]
    lines += report.transfers()
    return "\n".join(lines)
