"""Benchmark: sequential vs batches of 4 vs the backend's sliding window of 4.

  make bench                      the full run (~15 min), writes bench/RESULTS.md
  bench/run.py --quick            a small run of every part (~2 min), a smoke check;
                                  writes bench/work/RESULTS-quick.md
  bench/run.py --conn-mbit 20 --link-mbit 200 --rtt-ms 50 --tick 0.25

Real parts only: the test suite's Podman service and docker-registry
(tests/stack.py), a WAN emulated on loopback between them (bench/wan.py), and
every check driven through the rpcd launchers (tests/rpcd_harness.py).
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))

from costs import (  # noqa: E402
    SINGLE,
    import_breakdown,
    measure_memory,
    measure_ticks,
)
from fleet import MB, Fleet, shared_images, table_images  # noqa: E402
from host import machine  # noqa: E402
from measure import (  # noqa: E402
    MeasuredHarness,
    Usage,
    become_subreaper,
    children_cpu,
    has_gnu_time,
    process_cpu,
    reap,
)
from report import render  # noqa: E402
from rpcd_harness import plugin_env  # noqa: E402
from stack import PodmanStack  # noqa: E402
from strategies import (  # noqa: E402
    STRATEGIES,
    follow,
    session_metas,
    worker_pids,
)
from wan import Shape, WanLink  # noqa: E402

WORK = BENCH / "work"


@dataclass
class Plan:
    rows: tuple
    repeats: int
    scale: float
    tick_repeats: int
    shared_repeats: int
    import_repeats: int
    memory_repeats: int


FULL = Plan((4, 8, 11, 20), 3, 1.0, 21, 3, 9, 5)
QUICK = Plan((4, 8), 1, 0.25, 7, 1, 3, 3)


def log(text: str) -> None:
    print(text, flush=True)


class Bench:
    def __init__(self, plan: Plan, shape: Shape, tick: float):
        self.plan = plan
        self.shape = shape
        self.tick = tick
        self.stack = None
        self.wan = None
        self.fleet = None
        self.table = []
        self.shared = []
        self.records: list[dict] = []
        self.usages: list[Usage] = []
        self.state_dirs: list[str] = []
        self.rss = defaultdict(list)  # process -> [peak RSS KiB]

    # -- set-up and tear-down --------------------------------------------------

    def start(self) -> None:
        log("starting Podman service and registry...")
        self.stack = PodmanStack.create().start(registries=1, proxies=1)
        upstream = ("127.0.0.1", self.stack.registries[0].port)
        self.wan = WanLink(upstream, port=self.stack.proxy_ports[0])
        self.fleet = Fleet(self.stack, self.wan.host, log)
        log(f"building and deploying images (scale {self.plan.scale})...")
        began = time.monotonic()
        self.table = table_images(max(self.plan.rows), self.plan.scale)
        self.shared = shared_images(self.plan.scale)
        self.fleet.deploy(self.table + self.shared)
        log(f"deployed in {time.monotonic() - began:.0f} s")
        self.wan.set_shape(self.shape)

    def new_state_dir(self) -> str:
        path = WORK / "state" / str(len(self.state_dirs))
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)  # the backend insists on a private state dir
        self.state_dirs.append(str(path))
        return str(path)

    def close(self) -> None:
        if self.wan:
            self.wan.release()
        self._stop_workers()
        if self.wan:
            self.wan.close()
        if self.stack:
            self.stack.stop()
        shutil.rmtree(WORK / "state", ignore_errors=True)

    def _stop_workers(self) -> None:
        """End the workers our runs started that still run (after an error)."""
        for state_dir in self.state_dirs:
            for pid in worker_pids(state_dir):
                # Only a worker still running as our (adopted) child: a pid
                # that is not ours any more may belong to someone else now.
                try:
                    if os.waitpid(pid, os.WNOHANG) != (0, 0):
                        continue
                except ChildProcessError:
                    continue
                os.killpg(pid, signal.SIGTERM)
                try:
                    reap(pid, "leftover worker", timeout=10)
                except TimeoutError:
                    os.killpg(pid, signal.SIGKILL)
                    reap(pid, "leftover worker")

    # -- one measured run ------------------------------------------------------

    def run_once(self, kind: str, strategy: str, images: list, rep: int) -> dict:
        self.fleet.reset()
        state_dir = self.new_state_dir()
        harness = MeasuredHarness(launcher_env(self.stack.socket, state_dir))
        names = sorted(name for image in images for name in image.containers)
        self.wan.take_traffic()
        cpu_before = children_cpu()
        podman_before = process_cpu(self.stack.service.pid)

        outcome = STRATEGIES[strategy](harness, names, self.tick)

        traffic = self.wan.take_traffic()
        workers = []
        for pid, what in worker_pids(state_dir).items():
            usage = reap(pid, what)
            if usage:
                workers.append(usage)
        calls = harness.take_usage()
        self.usages += calls + workers
        metas = session_metas(state_dir)
        record = {
            "kind": kind,
            "strategy": strategy,
            "count": len(names),
            "rep": rep,
            "wall": outcome.wall,
            "checked": outcome.checked,
            "pulls": outcome.pulls,
            "sessions": len(metas),
            "reply_bytes": traffic.reply_bytes,
            "expected_bytes": sum(i.new_bytes for i in images if i.updated),
            "connections": traffic.connections,
            "manifest_gets": traffic.registry_requests("manifests"),
            "product_cpu": children_cpu() - cpu_before,
            "podman_cpu": process_cpu(self.stack.service.pid) - podman_before,
            "calls": [(u.what, u.wall, u.cpu) for u in calls],
            "workers": [(u.what, u.cpu, u.rss_kb) for u in workers],
            "pull_durations": {
                _repo(m["image"]): m["finishedAt"] - m["createdAt"]
                for m in metas
                if m.get("finishedAt")
            },
        }
        record["problems"] = self._problems(outcome, images, traffic, record)
        record["ok"] = not record["problems"]
        self.records.append(record)
        log(
            f"  {kind} {record['count']:2d} {strategy:10s} run {rep + 1}: "
            f"{outcome.wall:5.1f} s, {traffic.reply_bytes / MB:6.1f} MB, "
            f"{len(calls)} calls, "
            + ("ok" if record["ok"] else "; ".join(record["problems"]))
        )
        return record

    @staticmethod
    def _problems(outcome, images, traffic, record) -> list[str]:
        problems = list(outcome.errors)
        expected = {c: i.new_id for i in images if i.updated for c in i.containers}
        if outcome.updates != expected:
            problems.append(f"updates found {sorted(outcome.updates)}")
        if outcome.checked != record["count"]:
            problems.append(f"checked {outcome.checked} of {record['count']}")
        wanted = set().union(*(i.blob_digests for i in images if i.updated))
        fetched = {digest for _, digest in traffic.registry_requests("blobs")}
        if not wanted <= fetched:
            problems.append(f"{len(wanted - fetched)} newer blobs not downloaded")
        ratio = record["reply_bytes"] / max(record["expected_bytes"], 1)
        if not 1.0 <= ratio <= 1.05:
            problems.append(f"link carried {ratio:.3f}x the newer blobs")
        distinct = len({i.repo for i in images})
        if record["pulls"] != distinct or record["sessions"] != distinct:
            problems.append(
                f"{record['pulls']} pulls / {record['sessions']} sessions "
                f"for {distinct} images"
            )
        return problems

    # -- the parts of the benchmark -----------------------------------------------

    def table_runs(self) -> None:
        log(f"expected-performance table: {self.shape.describe()}")
        order = list(STRATEGIES)
        for rep in range(self.plan.repeats):
            for count in self.plan.rows:
                for strategy in order:
                    self.run_once("table", strategy, self.table[:count], rep)
                # Rotate so no strategy always runs first (page cache, drift).
                order = order[1:] + order[:1]

    def shared_runs(self) -> None:
        log("11 containers sharing 5 images:")
        for rep in range(self.plan.shared_repeats):
            for strategy in STRATEGIES:
                self.run_once("shared", strategy, self.shared, rep)

    def tick_costs(self) -> tuple[dict, dict]:
        """Tick, memory and import costs, measured on pulls held at the WAN."""
        log("cost of a polling tick (pulls held at the WAN)...")
        self.fleet.reset()
        state_dir = self.new_state_dir()
        harness = MeasuredHarness(launcher_env(self.stack.socket, state_dir))
        updated = [image for image in self.table if image.updated][:4]
        self.wan.hold()
        try:
            started = {}
            for image in updated:
                reply, rss = harness.call_rss(
                    "podman.image", "pullStream", {"image": image.wan_ref}
                )
                started[reply["sessionId"]] = image.wan_ref
                if rss:
                    self.rss["podman.image pullStream"].append(rss)
            names = sorted(n for image in self.shared for n in image.containers)
            args = {"names": names, "parallel": 4, "wait": 0}
            job, rss = harness.call_rss("podman", "checkUpdates", args)
            if rss:
                self.rss["podman checkUpdates"].append(rss)
            sessions = list(started)
            ticks = measure_ticks(
                harness, sessions, job["jobId"], self.plan.tick_repeats
            )
            memory = measure_memory(
                harness,
                sessions,
                job["jobId"],
                self.table[1].wan_ref,
                self.plan.memory_repeats,
            )
            for what, values in memory.items():
                self.rss[what] += values
            imports = import_breakdown(harness, sessions, self.plan.import_repeats)
            running = harness.reply("podman", "checkStatus", {"jobId": job["jobId"]})
            if running["complete"]:
                raise RuntimeError("the check finished while the WAN was held")
        finally:
            self.wan.release()
        follow(harness, started, self.tick, multi=True)
        while not harness.reply("podman", "checkStatus", {"jobId": job["jobId"]})[
            "complete"
        ]:
            time.sleep(self.tick)
        for pid, what in worker_pids(state_dir).items():
            usage = reap(pid, what)
            if usage:
                self.usages.append(usage)
        self.usages += harness.take_usage()
        for label, usages in ticks.items():
            if label != SINGLE:  # that one is a sum of four calls
                self.usages += usages
        self.fleet.reset()
        return ticks, imports


def launcher_env(socket: str, state_dir: str) -> dict:
    """The launchers' environment, with compiled bytecode as on a router.

    A router ships .pyc files; with PYTHONDONTWRITEBYTECODE set (and sources
    that change under us) every call would compile them anew. They are
    cached below bench/work instead.
    """
    env = plugin_env(socket, state_dir)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    return env


def _interpreter() -> str:
    """The python3 the launchers run under (`#!/usr/bin/env python3`)."""
    return MeasuredHarness(launcher_env("/nonexistent", "/nonexistent")).interpreter


def _repo(ref: str) -> str:
    return ref.split("/", 1)[1].rsplit(":", 1)[0]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--conn-mbit", type=float, default=20.0)
    parser.add_argument("--link-mbit", type=float, default=200.0)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--setup-rtts", type=int, default=2)
    parser.add_argument("--tick", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = args.out or (
        WORK / "RESULTS-quick.md" if args.quick else BENCH / "RESULTS.md"
    )
    shape = Shape(
        conn_rate=args.conn_mbit * 1e6 / 8,
        link_rate=args.link_mbit * 1e6 / 8,
        rtt=args.rtt_ms / 1000,
        setup_rtts=args.setup_rtts,
    )
    WORK.mkdir(exist_ok=True)
    if not has_gnu_time():
        log("note: no GNU time (Debian package `time`): no launcher peak RSS")
    become_subreaper()
    # Ctrl-C and kill both tear everything down (a shell may have started
    # this with SIGINT ignored, as it does for background jobs).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(f"note: load average {load_before:.2f}: other work competes for the CPU")
    host = machine(_interpreter(), str(ROOT))
    bench = Bench(plan, shape, args.tick)
    try:
        bench.start()
        bench.table_runs()
        bench.shared_runs()
        ticks, imports = bench.tick_costs()
        settings = {
            "rows": plan.rows,
            "link_rate": shape.link_rate,
            "quick": args.quick,
            "machine": host,
        }
        settings["machine"].append(
            (
                "load average (1 min)",
                f"{load_before:.2f} at start, {os.getloadavg()[0]:.2f} at the end",
            )
        )
    finally:
        bench.close()
    (WORK / "results.json").write_text(json.dumps(bench.records, indent=1))
    text = render(bench, ticks, imports, settings)
    text += f"\nWhole benchmark: {(time.monotonic() - began) / 60:.1f} min.\n"
    out.write_text(text)
    log("\n" + text)
    log(f"written to {out}")
    problems = [r for r in bench.records if not r["ok"]]
    return 1 if problems else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log("interrupted: everything it started is stopped and removed")
        sys.exit(130)
