"""The workloads of issue 10, how each is checked before it is timed, and how it is timed.

Each workload is checked once per server with httpx before wrk runs it: a benchmark of error pages
or of the wrong kind of token would be fast and meaningless (wrk also counts non-2xx answers, but
cannot tell an RS256 JWT from an opaque string).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from benchmarks import procstat, wrk
from benchmarks.target import Call, Target, basic_header


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    # Connections for each of the run's concurrency levels (password grant: fewer, argon2 is the limit).
    scale: Callable[[int], int] = lambda level: level

    def connections(self, level: int) -> int:
        return max(2, self.scale(level))


WORKLOADS = [
    Workload("client_credentials", "client_credentials"),
    Workload("introspection", "introspection (valid JWT)"),
    Workload("jwks", "JWKS"),
    Workload("discovery", "discovery"),
    Workload("refresh", "refresh rotation"),
    # argon2id allows a few logins/s on 2 cores: at 256 connections wrk would only measure queueing.
    Workload("password", "password grant (argon2id)", lambda level: level // 16),
    # Whole sequences per second (benchmarks/code_flow.py drives them, not wrk): signing in each
    # time is bound by argon2id like the password grant; a signed-in browser is the flow's machinery.
    Workload("code_flow_sign_in", "code flow, signing in each time (sequences)", lambda level: level // 16),
    Workload("code_flow_signed_in", "code flow, signed-in browser (sequences)"),
]


class CheckFailed(Exception):
    """The server's answer to a workload's request is not the answer the workload is about."""


@dataclass
class Measurement:
    """One workload on one server at one concurrency (the median of `rounds` wrk runs)."""

    server: str
    workload: str
    connections: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    requests: int = 0
    cpu_percent: float = 0.0
    rss_mib: list[float] = field(default_factory=list)
    status: str = "ok"  # ok | n/a | a reason it was not measured
    runs: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per answered request: less sensitive to a noisy neighbour than requests/s."""
        return self.cpu_percent * 10 / self.rps if self.rps else 0.0


def _jwks(target: Target, http: httpx.Client) -> KeySet:
    call = target.call("jwks")
    assert call is not None
    return KeySet.import_key_set(call.send(http).json())


def check_rs256_jwt(token: str, keys: KeySet) -> str:
    """The token is a JWT signed RS256 with a key from the server's JWKS, or CheckFailed."""
    try:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
    except Exception as error:  # joserfc raises several kinds; any of them means "not a valid RS256 JWT"
        raise CheckFailed(f"not an RS256 JWT verifiable with the JWKS: {error!r}") from error
    return f"RS256 JWT, typ {decoded.header.get('typ')}, aud {decoded.claims.get('aud')}"


def _json(answer: httpx.Response) -> dict[str, object]:
    if answer.status_code != 200:
        raise CheckFailed(f"HTTP {answer.status_code}: {answer.text[:300]}")
    body = answer.json()
    if not isinstance(body, dict):
        raise CheckFailed(f"not a JSON object: {answer.text[:300]}")
    return body


def check(target: Target, workload: str, call: Call, refresh_token: str | None = None) -> str:
    """Send `call` once and confirm the answer is what the workload measures; say what was seen."""
    with httpx.Client(timeout=120) as http:
        if workload == "refresh":
            assert refresh_token is not None and call.form is not None
            call = Call(call.method, call.url, call.form | {"refresh_token": refresh_token}, call.basic)
        body = _json(call.send(http))
        if workload in ("client_credentials", "password", "refresh"):
            seen = check_rs256_jwt(str(body.get("access_token")), _jwks(target, http))
            if workload == "refresh" and body.get("refresh_token") in (None, refresh_token):
                raise CheckFailed("the refresh token was not rotated")
            return seen
        if workload == "introspection":
            if body.get("active") is not True:
                raise CheckFailed(f"introspection answered {body}")
            return "active: true"
        if workload == "jwks":
            keys = body.get("keys")
            if not (isinstance(keys, list) and keys and all(k.get("kty") == "RSA" for k in keys)):
                raise CheckFailed(f"no RSA keys in {body}")
            return f"{len(keys)} RSA key(s)"
        if workload == "discovery":
            if body.get("issuer") != target.base:
                raise CheckFailed(f"issuer {body.get('issuer')!r}, expected {target.base!r}")
            return "issuer matches"
    raise CheckFailed(f"no check for {workload}")


def _timed(
    target: Target, name: str, connections: int, run: Callable[[], wrk.WrkResult]
) -> tuple[Measurement, wrk.WrkResult]:
    """Run wrk while watching the server's CPU and memory."""
    with procstat.Monitor(target.pid) as monitor:
        result = run()
    measured = Measurement(
        server=target.label,
        workload=name,
        connections=connections,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        requests=result.requests,
        cpu_percent=monitor.cpu_percent,
        rss_mib=monitor.rss_mib,
        runs=[result.rps],
    )
    return measured, result


def median(rounds: list[Measurement]) -> Measurement:
    """The round with the median requests/s (its latencies and CPU stay consistent with it)."""
    ordered = sorted(rounds, key=lambda m: m.rps)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.runs = [m.rps for m in rounds]
    chosen.errors = sum(m.errors for m in rounds)
    chosen.rss_mib = [max(values) for values in zip(*(m.rss_mib for m in rounds), strict=False)]
    return chosen


def measure_static(
    target: Target,
    workload: str,
    call: Call,
    connections: int,
    duration_s: float,
    warmup_s: float,
    workdir: Path,
) -> Measurement:
    """wrk sends the same request over and over (a Lua script supplies a POST's body)."""
    script = None
    if call.method == "POST":
        script = workdir / f"{target.label}-{workload}.lua"
        script.write_text(wrk.post_script(call.body, call.authorization))
    if warmup_s:
        wrk.run(call.url, connections=connections, duration_s=warmup_s, script=script)
    measured, _ = _timed(
        target,
        workload,
        connections,
        lambda: wrk.run(call.url, connections=connections, duration_s=duration_s, script=script),
    )
    return measured


@dataclass
class RefreshTally:
    """What wrk's refresh script counted over all refresh runs on one server."""

    rotations: int = 0  # 200 answers carrying a new refresh token
    failed: int = 0
    in_flight: int = 0  # tokens sent when wrk stopped: the server may have rotated them
    exhausted: int = 0  # requests sent with no chain left (after a failure broke one): always fail

    def add(self, counts: dict[str, int]) -> None:
        """Add one run's counts (refresh.lua's '@refresh' line).

        Tokens taken from the queue but neither answered nor held at the end were in flight when wrk
        stopped (plus one per run that wrk takes to check the script and never sends).
        """
        taken, held = counts.get("taken", 0), counts.get("held", 0)
        answered_badly = counts.get("failed", 0) + counts.get("malformed", 0)
        self.rotations += counts.get("ok", 0)
        self.failed += answered_badly
        self.in_flight += taken - held - answered_badly
        self.exhausted += counts.get("exhausted", 0)


def measure_refresh(
    target: Target, call: Call, connections: int, duration_s: float, tally: RefreshTally, threads: int = 2
) -> Measurement:
    """Each wrk connection rotates its own chain (refresh.lua); one spare chain per wrk thread, since
    wrk calls request() once before the run to check the script."""
    threads = min(threads, connections)
    chains = target.refresh_chains(connections + threads)
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as folder:
        tokens_in, tokens_out = Path(folder) / "in", Path(folder) / "out"
        tokens_in.write_text("\n".join(chains) + "\n")
        args = [str(tokens_in), str(tokens_out), basic_header(*target.refresh_client), str(threads)]
        measured, result = _timed(
            target,
            "refresh",
            connections,
            lambda: wrk.run(
                call.url,
                connections=connections,
                duration_s=duration_s,
                threads=threads,
                script=wrk.REFRESH_LUA,
                script_args=args,
            ),
        )
    tally.add(result.extra)
    # A 200 without a new refresh token (malformed) breaks its chain just as an error does.
    measured.errors += result.extra.get("malformed", 0)
    return measured
