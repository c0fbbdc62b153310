"""Memory soak: issue N client_credentials tokens and watch each worker's RSS (issue 10: flat, under
150 MiB per worker, across a million tokens).

    .venv/bin/python benchmarks/soak.py --tokens 1000000      # about 15-30 minutes on 2 cores
    .venv/bin/python benchmarks/soak.py --tokens 100000       # a shorter look

Starts `authserver serve --workers 2` on a throwaway PostgreSQL database (`--sqlite` for SQLite),
drives it with wrk in slices of `--slice` seconds until N tokens were issued, and prints each
worker's RSS after every slice, then the growth from the first slice to the last. Every answer
must be 200 (wrk's non-2xx count is reported and must be 0). Also introspects a fresh token per
slice, so the verdict cache is exercised with many distinct jtis as well.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import database, ours, procstat, wrk

MIB = 1024 * 1024
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--slice", type=float, default=30.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="authserver-soak-") as scratch:
        workdir = Path(scratch)
        make_db = database.throwaway_sqlite() if args.sqlite else database.throwaway_postgres(ADMIN_DSN)
        with make_db as db, ours.running(db, 2, workdir) as server:
            call = server.call("client_credentials")
            assert call is not None
            script = workdir / "cc.lua"
            script.write_text(wrk.post_script(call.body, call.authorization))
            workers = procstat.workers(server.pid)
            issued, errors, started = 0, 0, time.monotonic()
            rows: list[tuple[int, list[float]]] = []
            print(f"soak: {args.tokens:,} tokens, workers {workers}, {db.kind}")
            while issued < args.tokens:
                result = wrk.run(
                    server.base + "/token", connections=args.connections, duration_s=args.slice, script=script
                )
                issued += result.requests
                errors += result.errors
                with httpx.Client(timeout=30) as http:  # a fresh jti through introspection too
                    token = call.send(http).json()["access_token"]
                    rs = server.clients["rs"].basic
                    http.post(server.base + "/introspect", data={"token": token}, auth=rs).raise_for_status()
                rss = [procstat.sample(pid).rss.get(pid, 0) / MIB for pid in workers]
                rows.append((issued, rss))
                print(
                    f"  {issued:>10,} tokens  {result.rps:7.0f}/s  RSS MiB: "
                    + ", ".join(f"{r:.1f}" for r in rss),
                    flush=True,
                )
            minutes = (time.monotonic() - started) / 60
    first, last = rows[0][1], rows[-1][1]
    growth = [b - a for a, b in zip(first, last, strict=True)]
    print(
        f"done: {issued:,} tokens in {minutes:.1f} min, {errors} errors; RSS per worker "
        f"first {', '.join(f'{r:.1f}' for r in first)} MiB, last {', '.join(f'{r:.1f}' for r in last)} "
        f"MiB, growth {', '.join(f'{g:+.1f}' for g in growth)} MiB; peak "
        f"{max(max(r) for _, r in rows):.1f} MiB"
    )


if __name__ == "__main__":
    main()
