"""The benchmark harness's pure helpers (benchmarks/): parsing wrk and /proc, the report, the row audit.

No load is generated here; `python benchmarks/run.py --quick` is the harness's own smoke run.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from benchmarks import procstat, report, wrk
from benchmarks.ceiling import Ceiling, argon2_parameters
from benchmarks.database import RotationAudit
from benchmarks.workloads import WORKLOADS, Measurement, RefreshTally, median

WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:8000/token
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.52ms   11.03ms 312.07ms   84.12%
    Req/Sec     1.51k   210.33     2.01k    71.25%
  Latency Distribution
     50%  812.00us
     75%   25.01ms
     90%   33.40ms
     99%    1.20s
  24040 requests in 8.01s, 21.87MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   3001.25
Transfer/sec:      2.73MB
@refresh taken=66 ok=24000 failed=7 malformed=1 exhausted=0 held=2
"""


def test_wrk_output_is_parsed_with_units_and_errors() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.rps == pytest.approx(3001.25)
    assert result.requests == 24040
    assert result.duration_s == pytest.approx(8.01)
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1200)
    assert (result.non_2xx, result.socket_errors, result.errors) == (7, 5, 12)
    assert result.extra == {"taken": 66, "ok": 24000, "failed": 7, "malformed": 1, "exhausted": 0, "held": 2}


def test_wrk_output_without_errors_or_script_counts() -> None:
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if not line.startswith(("  Socket", "  Non", "@"))
    )
    result = wrk.parse(clean)
    assert result.errors == 0 and result.extra == {}


def test_unrecognised_wrk_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="unrecognised"):
        wrk.parse("wrk: connection refused")


def test_post_script_quotes_any_text_as_a_lua_long_string() -> None:
    assert wrk.lua_string("a]]b") == "[=[a]]b]=]"
    script = wrk.post_script('token=x"y', "Basic YTpi")
    assert 'wrk.body = [[token=x"y]]' in script
    assert 'wrk.headers["Authorization"] = [[Basic YTpi]]' in script


def test_proc_stat_line_with_spaces_and_parentheses_in_the_name() -> None:
    fields = ["S", "41", *["0"] * 9, "250", "50", *["0"] * 8, "1000", "0"]
    ppid, cpu, rss = procstat.parse_stat("1234 (python (a) b) " + " ".join(fields))
    assert ppid == 41
    assert cpu == pytest.approx(300 / procstat.TICKS)
    assert rss == 1000 * procstat.PAGE


def test_monitor_watches_this_process() -> None:
    with procstat.Monitor(os.getpid(), interval_s=0.01) as monitor:
        sum(range(200_000))
    assert monitor.workers == [os.getpid()]
    assert monitor.cpu_seconds >= 0 and monitor.rss_mib[0] > 1


def _measurement(
    server: str, workload: str, rps: float, connections: int = 64, errors: int = 0
) -> Measurement:
    return Measurement(
        server,
        workload,
        connections,
        rps=rps,
        p50_ms=2.5,
        p99_ms=150.0,
        errors=errors,
        cpu_percent=150,
        rss_mib=[90.0, 91.0],
    )


def _report() -> report.Report:
    return report.Report(
        started=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        machine="test box, 2 cores",
        setup=["PostgreSQL"],
        measurements=[
            _measurement("authserver", "client_credentials", 1500),
            _measurement("oidc-provider", "client_credentials", 1000),
            _measurement("authserver", "password", 9, connections=4),
            Measurement("oidc-provider", "password", 4, status="n/a"),
            _measurement("authserver", "code_flow_signed_in", 300, connections=16),
            Measurement("oidc-provider", "code_flow_signed_in", 16, status="n/a"),
        ],
        ceiling=Ceiling(1800.0, 10.0, 2, "t=3, m=64 MiB, p=4"),
    )


def test_table_shows_the_ratio_and_n_a() -> None:
    text = report.render(_report())
    assert "| client_credentials | 64 | 1,500 | 2.5 / 150 | 0 | 1,000 | 2.5 / 150 | 0 | **1.50** |" in text
    assert "| password grant (argon2id) | 4 | 9 | 2.5 / 150 | 0 | n/a | n/a | n/a | n/a |" in text
    assert "| code flow, signed-in browser (sequences) | 16 | 300 | 2.5 / 150 | 0 | n/a |" in text
    assert "**1,800/s per core**" in text
    assert "90% of the argon2 limit" in text


def test_resources_table_gives_cpu_per_request_and_rss_per_worker() -> None:
    rows = report.resources_table(_report().measurements)
    assert "| client_credentials | 64 | 150 | 1.00 | 90, 91 | 150 | 1.50 | 90, 91 |" in rows


def test_median_keeps_the_middle_round_and_adds_errors() -> None:
    rounds = [_measurement("authserver", "jwks", rps, errors=1) for rps in (300, 100, 200)]
    chosen = median(rounds)
    assert chosen.rps == 200 and chosen.errors == 3 and chosen.runs == [300, 100, 200]


def test_rotation_audit_finds_lost_and_doubled_rotations() -> None:
    clean = RotationAudit(
        families=10, revoked_families=0, rotations=100, used=100, doubled=0, families_with_several_live=0
    )
    assert clean.problems(client_rotations=95, in_flight=8) == []
    assert "lost" in clean.problems(client_rotations=101, in_flight=0)[0]
    doubled = RotationAudit(10, 0, 101, 100, 1, 1)
    assert len(doubled.problems(client_rotations=100, in_flight=4)) == 3


def test_refresh_tally_counts_tokens_in_flight() -> None:
    tally = RefreshTally()
    tally.add({"taken": 66, "ok": 500, "failed": 1, "malformed": 0, "held": 3})
    assert (tally.rotations, tally.failed, tally.in_flight) == (500, 1, 62)


def test_machine_tag_is_a_safe_file_name() -> None:
    assert all(c.isalnum() or c in "-." for c in report.machine_tag())


def test_workloads_and_argon2_parameters() -> None:
    assert [w.key for w in WORKLOADS][:2] == ["client_credentials", "introspection"]
    password = next(w for w in WORKLOADS if w.key == "password")
    assert [password.connections(level) for level in (16, 64, 256)] == [2, 4, 16]
    assert argon2_parameters() == (3, 64 * 1024, 4)
