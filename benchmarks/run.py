"""Load-test a real `authserver serve` with wrk and print medians.

    python benchmarks/run.py [--database-url URL] [--workers 2] [--duration 10] [--rounds 3]

Starts a server on a fresh database (a temporary SQLite file unless --database-url names an empty
PostgreSQL database or schema), registers a client and a user through the CLI, then runs wrk against
each scenario `--rounds` times and reports the median requests/s and latency. wrk comes from
Debian (`apt-get install wrk`). The machine is shared and noisy: compare medians, not single runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PASSWORD = "benchmark passphrase 2026"

LUA_POST = """
wrk.method = "POST"
wrk.body = {body!r}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = {auth!r}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "authserver", *args], env=env, input=stdin, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"authserver {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def wrk(url: str, script: Path | None, duration: int, connections: int, threads: int) -> tuple[float, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    assert p50 is not None, out
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers from {url}:\n{out}")
    return rps, float(p50.group(1)) * factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")} | {
        "AUTHSERVER_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}",
        "AUTHSERVER_ISSUER": base,
        "AUTHSERVER_KEYS_DIR": str(work / "keys"),
        "AUTHSERVER_LOG_LEVEL": "WARNING",
    }
    cli(env, "db", "upgrade")
    m2m = json.loads(cli(env, "clients", "create", "--name", "bench", "--grant-type", "client_credentials",
                         "--scope", "read", "--json"))
    rs = json.loads(cli(env, "clients", "create", "--name", "rs", "--grant-type", "client_credentials", "--json"))
    first_party = json.loads(cli(env, "clients", "create", "--name", "app", "--grant-type", "password",
                                 "--scope", "read", "--json"))
    cli(env, "users", "create", "--email", "load@example.org", "--username", "loadtest", "--password-stdin",
        stdin=PASSWORD + "\n")

    server = subprocess.Popen(
        [sys.executable, "-m", "authserver", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "wb"),  # noqa: SIM115
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        import base64

        def basic(c: dict[str, str]) -> str:
            return "Basic " + base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()

        token = httpx.post(base + "/token", data={"grant_type": "client_credentials"},
                           auth=(m2m["client_id"], m2m["client_secret"])).json()["access_token"]
        scenarios = {
            "token client_credentials": (base + "/token", {"body": "grant_type=client_credentials",
                                                            "auth": basic(m2m)}, args.connections),
            "introspect access token": (base + "/introspect", {"body": f"token={token}", "auth": basic(rs)},
                                        args.connections),
            "token password (argon2id)": (base + "/token", {
                "body": f"grant_type=password&username=loadtest&password={PASSWORD.replace(' ', '+')}",
                "auth": basic(first_party)}, 4),
            "jwks": (base + "/.well-known/jwks.json", None, args.connections),
        }
        print(f"authserver benchmark: {args.workers} worker(s), {env['AUTHSERVER_DATABASE_URL'].split(':')[0]}, "
              f"{args.rounds} x {args.duration}s per scenario, cores={os.cpu_count()}")
        for name, (url, lua, connections) in scenarios.items():
            script = None
            if lua is not None:
                script = work / f"{abs(hash(name))}.lua"
                script.write_text(LUA_POST.format(**lua).replace("'", '"'))
            runs = [wrk(url, script, args.duration, connections, 2) for _ in range(args.rounds)]
            rps = statistics.median(r for r, _ in runs)
            p50 = statistics.median(p for _, p in runs)
            spread = ", ".join(f"{r:.0f}" for r, _ in runs)
            print(f"  {name:<28} median {rps:8.0f} req/s  p50 {p50:7.2f} ms  (runs: {spread}; c={connections})")
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
