"""Run wrk and read its report.

wrk is the load generator because it costs little CPU per request: on 2 shared cores, a Python load
generator would take the CPU the servers need and measure itself. POST bodies come from a Lua script;
the refresh-rotation script (refresh.lua) keeps a queue of refresh tokens per wrk thread so every
request presents the latest token of its chain.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Latency units wrk prints (src/units.c), in milliseconds.
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY = r"([\d.]+)(us|ms|s|m|h)\b"

POST_LUA = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = {auth}
"""

REFRESH_LUA = Path(__file__).with_name("refresh.lua")


@dataclass
class WrkResult:
    """What one wrk run measured; `errors` counts non-2xx/3xx answers and socket errors together."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _latency_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse(output: str) -> WrkResult:
    """Parse `wrk --latency` output (and `KEY=N` pairs a Lua done() printed on a line starting '@')."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in " + _LATENCY, output)
    p50 = re.search(r"^\s*50(?:\.000)?%\s+" + _LATENCY, output, re.M)
    p99 = re.search(r"^\s*99(?:\.000)?%\s+" + _LATENCY, output, re.M)
    if not (rps and total and p50 and p99):
        raise ValueError(f"unrecognised wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    extra = {
        k: int(v)
        for line in output.splitlines()
        if line.startswith("@")
        for k, v in re.findall(r"(\w+)=(-?\d+)", line)
    }
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=_latency_ms(total.group(2), total.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_latency_ms(p50.group(1), p50.group(2)),
        p99_ms=_latency_ms(p99.group(1), p99.group(2)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        extra=extra,
    )


def lua_string(value: str) -> str:
    """A Lua string literal for any text (long-bracket form, so quotes and backslashes pass as is)."""
    level = 0
    while f"]{'=' * level}]" in value:
        level += 1
    eq = "=" * level
    return f"[{eq}[{value}]{eq}]"


def post_script(body: str, authorization: str) -> str:
    """A wrk script that POSTs the same form body with the same Authorization header each time."""
    return POST_LUA.format(body=lua_string(body), auth=lua_string(authorization))


def run(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 2,
    script: Path | None = None,
    script_args: list[str] | None = None,
    timeout_s: int = 30,
) -> WrkResult:
    """One wrk run; a generous --timeout so slow answers count in p99 rather than as errors."""
    threads = min(threads, connections)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s}s",
        "--latency",
    ]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return parse(done.stdout)
