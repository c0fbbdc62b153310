"""Benchmark authserver against node-oidc-provider in one run (issue 10).

    .venv/bin/python benchmarks/run.py            # full run: ~6 minutes, writes benchmarks/results/
    .venv/bin/python benchmarks/run.py --quick    # smoke test: one concurrency level, short runs

Starts `authserver serve --workers 2` on a throwaway PostgreSQL database (SQLite with --sqlite, or
--database-url for an empty database of yours) and node-oidc-provider as one Node process, checks
that each workload gets the right answer from each, then drives them one after the other with
`wrk -t2 -cN` and reports requests/s, p50/p99, errors, server CPU and RSS, and the ratio ours/peer.
The ceiling (RS256 signs/s per core, argon2id verifications/s) is measured in the same run.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import ceiling, code_flow, database, ours, peer, report, workloads
from benchmarks.target import Call, Target

# Defaults of a full run, and of --quick (which writes where full runs' committed results are not).
FULL: dict[str, object] = {
    "levels": "16,64,256",
    "duration": 8.0,
    "warmup": 1.0,
    "rounds": 1,
    "results_dir": report.RESULTS_DIR,
}
QUICK: dict[str, object] = {
    "levels": "64",
    "duration": 2.0,
    "warmup": 0.5,
    "rounds": 1,
    "results_dir": report.RESULTS_DIR / "scratch",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--database-url", help="an empty database of yours, as AUTHSERVER_DATABASE_URL takes it")
    db.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    parser.add_argument(
        "--postgres-admin",
        default=database.DEFAULT_POSTGRES,
        help="where to create and drop the throwaway database (default: %(default)s)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", help=f"wrk connections, comma-separated (default: {FULL['levels']})")
    parser.add_argument("--duration", type=float, help=f"seconds per wrk run (default: {FULL['duration']})")
    parser.add_argument(
        "--warmup", type=float, help=f"seconds of wrk before each run (default: {FULL['warmup']})"
    )
    parser.add_argument("--rounds", type=int, help="wrk runs per cell, the median is reported (default: 1)")
    parser.add_argument(
        "--workloads",
        default=",".join(w.key for w in workloads.WORKLOADS),
        help="which to run, comma-separated (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 64 connections, 2 s runs, results under benchmarks/results/scratch/",
    )
    parser.add_argument("--no-peer", action="store_true", help="authserver only (no ratio)")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--results-dir", type=Path, help="default: benchmarks/results/")
    args = parser.parse_args(argv)
    for name, default in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:  # an explicit flag wins over --quick
            setattr(args, name, default)
    unknown = set(args.workloads.split(",")) - {w.key for w in workloads.WORKLOADS}
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    return args


@contextmanager
def chosen_database(args: argparse.Namespace) -> Iterator[database.Database]:
    """PostgreSQL when reachable (the issue's targets are on PostgreSQL), else SQLite, saying so."""
    if args.database_url:
        yield database.Database(args.database_url, database.kind_of(args.database_url))
    elif not args.sqlite and database.postgres_reachable(args.postgres_admin):
        with database.throwaway_postgres(args.postgres_admin) as db:
            yield db
    else:
        if not args.sqlite:
            log(f"PostgreSQL not reachable at {args.postgres_admin}: using SQLite")
        with database.throwaway_sqlite() as db:
            yield db


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "authserver"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    return (done.stdout.strip() or "unknown") + (" (authserver/ modified)" if dirty.strip() else "")


def node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()


class Bench:
    """One run: the servers, what they answered when checked, and every measurement."""

    def __init__(self, args: argparse.Namespace, targets: list[Target], workdir: Path) -> None:
        self.args = args
        self.targets = targets
        self.workdir = workdir
        self.measurements: list[workloads.Measurement] = []
        self.checks: list[str] = []
        self.notes: list[str] = []
        self.audit: list[str] = []
        self.tallies = {t.label: workloads.RefreshTally() for t in targets}
        self.flow_checked = ""  # "" until the code flow was checked once, then "ok" or why not

    def levels(self) -> list[int]:
        return [int(level) for level in self.args.levels.split(",")]

    def run(self) -> None:
        wanted = self.args.workloads.split(",")
        for workload in workloads.WORKLOADS:
            if workload.key in wanted:
                self.run_workload(workload)

    def run_workload(self, workload: workloads.Workload) -> None:
        if workload.key in (code_flow.SIGN_IN_EACH_TIME, code_flow.SIGNED_IN):
            self.run_code_flow(workload)
            return
        calls = {t.label: self.checked_call(t, workload.key) for t in self.targets}
        for level in self.levels():
            connections = workload.connections(level)
            for target in self.targets:  # one after the other, at each level, so drift hits both alike
                call = calls[target.label]
                if isinstance(call, str):
                    self.measurements.append(
                        workloads.Measurement(target.label, workload.key, connections, status=call)
                    )
                    continue
                log(f"{target.label}: {workload.key} at {connections} connections")
                self.measurements.append(self.measure(target, workload.key, call, connections))
        if workload.key == "refresh":
            self.audit_refresh()

    def run_code_flow(self, workload: workloads.Workload) -> None:
        """Only authserver: the peer's interactions (devInteractions) check no password, so a
        ratio would compare argon2id with nothing; its rows say n/a."""
        server = next(t for t in self.targets if isinstance(t, ours.AuthServer))
        flow = server.flow_client()
        if not self.flow_checked:
            try:
                seen = code_flow.check(flow, httpx.get(f"{server.base}/.well-known/jwks.json", timeout=30))
                self.checks.append(f"authserver, code flow: 200, {seen}")
            except workloads.CheckFailed as failure:
                self.checks.append(f"authserver, code flow: **check failed**, not timed: {failure}")
                self.flow_checked = "check failed"
            else:
                self.flow_checked = "ok"
        for level in self.levels():
            connections = workload.connections(level)
            for target in self.targets:
                if target is not server or self.flow_checked != "ok":
                    status = "n/a" if target is not server else self.flow_checked
                    self.measurements.append(
                        workloads.Measurement(target.label, workload.key, connections, status=status)
                    )
                    continue
                log(f"authserver: {workload.key} at {connections} connections")
                rounds = []
                for _ in range(self.args.rounds):
                    measured, driver, failures = code_flow.measure(
                        flow, server.pid, workload.key, connections, self.args.duration, self.args.warmup
                    )
                    rounds.append(measured)
                    failed = (
                        "; failed sequences: "
                        + ", ".join(f"{count}x {why}" for why, count in failures.most_common())
                        if failures
                        else ""
                    )
                    self.notes.append(
                        f"authserver, {workload.title} at {connections} connections: the Python driver "
                        f"itself used {driver:.0f}% CPU on the same cores{failed}"
                    )
                self.measurements.append(workloads.median(rounds))

    def checked_call(self, target: Target, workload: str) -> Call | str:
        """The workload's request if the server answers it correctly, else why it is not measured."""
        call = target.call(workload)
        if call is None:
            return "n/a"
        note = target.note(workload)
        if note:
            self.notes.append(f"{target.label}, {workload}: {note}")
        try:
            token = target.refresh_chains(1)[0] if workload == "refresh" else None
            seen = workloads.check(target, workload, call, token)
        except workloads.CheckFailed as failure:
            self.checks.append(f"{target.label}, {workload}: **check failed**, not timed: {failure}")
            return "check failed"
        if workload == "refresh":
            self.tallies[target.label].rotations += 1
        self.checks.append(f"{target.label}, {workload}: 200, {seen}")
        return call

    def measure(self, target: Target, workload: str, call: Call, connections: int) -> workloads.Measurement:
        rounds = []
        for _ in range(self.args.rounds):
            if workload == "refresh":
                rounds.append(
                    workloads.measure_refresh(
                        target, call, connections, self.args.duration, self.tallies[target.label]
                    )
                )
            else:
                rounds.append(
                    workloads.measure_static(
                        target,
                        workload,
                        call,
                        connections,
                        self.args.duration,
                        self.args.warmup,
                        self.workdir,
                    )
                )
        return workloads.median(rounds)

    def audit_refresh(self) -> None:
        """Count authserver's rows: every rotation wrk saw is there once, none twice."""
        for target in self.targets:
            tally = self.tallies[target.label]
            if not isinstance(target, ours.AuthServer):
                self.audit.append(
                    f"- {target.label}: wrk counted {tally.rotations:,} rotations and "
                    f"{tally.failed} failures ({tally.exhausted} of them on chains broken by an earlier "
                    "failure; in memory: no rows to count)."
                )
                continue
            rows = database.audit_rotations(target.db.url, target.clients["app"].client_id)
            problems = rows.problems(tally.rotations, tally.in_flight)
            verdict = "**0 lost, 0 doubled**" if not problems else "**PROBLEMS: " + "; ".join(problems) + "**"
            self.audit.append(
                f"- authserver: wrk got {tally.rotations:,} rotated tokens ({tally.failed} failures, "
                f"{tally.exhausted} of them on chains broken by an earlier failure, "
                f"≤{tally.in_flight} in flight when wrk stopped); the database has {rows.rotations:,} "
                f"rotations, {rows.used:,} used tokens, {rows.doubled} tokens rotated twice, "
                f"{rows.families_with_several_live} families with >1 live token, {rows.revoked_families} "
                f"revoked families, over {rows.families:,} families: {verdict}."
            )


def setup_lines(args: argparse.Namespace, db: database.Database, argv: list[str]) -> list[str]:
    lines = [
        f"authserver {git_commit()}: `authserver serve --workers {args.workers}`, {db.kind}",
        "peer: node-oidc-provider "
        + (peer.version() if not args.no_peer else "(not run)")
        + f", one Node {node_version()} process, its in-memory adapter (store without eviction), "
        "RS256 JWT access tokens",
        f"load: `wrk -t2 -cN --latency` on the same cores, {args.duration:g} s per run after "
        f"{args.warmup:g} s of warm-up, {args.rounds} round(s) per cell (median), levels {args.levels} "
        "(password grant: one sixteenth, at least 2)",
        f"command: `{shlex.join(['python', 'benchmarks/run.py', *argv])}`",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not args.no_peer:
        peer.install()
    started = datetime.now(UTC)
    measured_ceiling = None
    if not args.no_ceiling:
        log("ceiling: RS256 signs/s and argon2id verifications/s")
        measured_ceiling = ceiling.measure(1.0 if args.quick else 2.0)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authserver-bench-")))
        db = stack.enter_context(chosen_database(args))
        log(f"starting authserver ({db.kind}, {args.workers} workers)")
        server = stack.enter_context(ours.running(db, args.workers, workdir))
        server.first_refresh_token()  # the template family that refresh chains are cloned from
        targets: list[Target] = [server]
        the_peer = None
        if not args.no_peer:
            log("starting node-oidc-provider")
            the_peer = stack.enter_context(peer.running(workdir))
            targets.append(the_peer)
        bench = Bench(args, targets, workdir)
        bench.run()
        if the_peer is not None:
            answer = the_peer.jwt_introspection_answer()
            bench.notes.append(
                f"oidc-provider asked to introspect its own JWT access token: HTTP "
                f"{answer.status_code} `{answer.text[:160]}`"
            )
            bench.notes += [f"oidc-provider's log: `{line}`" for line in peer.warnings(workdir)]
    results = report.Report(
        started=started,
        machine=report.describe_machine(),
        setup=[
            *setup_lines(args, db, argv),
            f"wall time: {(datetime.now(UTC) - started).seconds / 60:.1f} min",
        ],
        measurements=bench.measurements,
        ceiling=measured_ceiling,
        checks=bench.checks,
        audit=bench.audit,
        notes=bench.notes,
    )
    written = report.write(results, args.results_dir)
    print(report.render(results))
    log("wrote " + ", ".join(str(path) for path in written))


if __name__ == "__main__":
    main()
