"""The run's report: Markdown tables (printed and written), a PNG chart, and where they go.

The headline is the ratio ours/peer of requests/s measured minutes apart on the same cores: absolute
figures drift with whatever else the shared machine is doing, the ratio much less.
"""

from __future__ import annotations

import platform
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchmarks.ceiling import Ceiling
from benchmarks.workloads import WORKLOADS, Measurement

OURS = "authserver"
PEER = "oidc-provider"
RESULTS_DIR = Path(__file__).with_name("results")


@dataclass
class Report:
    """Everything one run found, in the order it is shown."""

    started: datetime
    machine: str
    setup: list[str]  # lines describing the run (database, workers, durations, versions, command)
    measurements: list[Measurement]
    ceiling: Ceiling | None = None
    checks: list[str] = field(default_factory=list)  # what each server answered before it was timed
    audit: list[str] = field(default_factory=list)  # refresh rotation row counts
    notes: list[str] = field(default_factory=list)
    chart_file: str | None = None  # the PNG beside the Markdown, once written


def machine_tag() -> str:
    """hostname, CPU model and core count, safe for a file name."""
    cores = _cpu_count()
    tag = f"{socket.gethostname()}_{cpu_model()}_{cores}c"
    return re.sub(r"[^A-Za-z0-9.]+", "-", tag).strip("-")


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    return f"{socket.gethostname()}, {cpu_model()}, {_cpu_count()} cores"


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def ratio(ours: Measurement | None, peer: Measurement | None) -> float | None:
    if ours is None or peer is None or not (ours.ok and peer.ok) or peer.rps == 0:
        return None
    return ours.rps / peer.rps


def _index(measurements: Iterable[Measurement]) -> dict[tuple[str, str, int], Measurement]:
    return {(m.server, m.workload, m.connections): m for m in measurements}


def _levels(measurements: list[Measurement], workload: str) -> list[int]:
    return sorted({m.connections for m in measurements if m.workload == workload})


def _cell(m: Measurement | None, text: str) -> str:
    if m is None:
        return "n/a"
    return text if m.ok else m.status


def throughput_table(measurements: list[Measurement]) -> list[str]:
    """Workload x concurrency: requests/s and latency of both servers, and the ratio."""
    at = _index(measurements)
    rows = [
        "| workload | conns | authserver req/s | p50 / p99 ms | errors | oidc-provider req/s | p50 / p99 ms "
        "| errors | **ours/peer** |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        for level in _levels(measurements, workload.key):
            ours, peer = at.get((OURS, workload.key, level)), at.get((PEER, workload.key, level))
            r = ratio(ours, peer)
            rows.append(
                "| "
                + " | ".join(
                    [
                        workload.title,
                        str(level),
                        _cell(ours, _fmt(ours.rps) if ours else ""),
                        _cell(ours, f"{_ms(ours.p50_ms)} / {_ms(ours.p99_ms)}" if ours else ""),
                        _cell(ours, str(ours.errors) if ours else ""),
                        _cell(peer, _fmt(peer.rps) if peer else ""),
                        _cell(peer, f"{_ms(peer.p50_ms)} / {_ms(peer.p99_ms)}" if peer else ""),
                        _cell(peer, str(peer.errors) if peer else ""),
                        f"**{r:.2f}**" if r is not None else "n/a",
                    ]
                )
                + " |"
            )
    return rows


def resources_table(measurements: list[Measurement]) -> list[str]:
    """Server CPU (100% = one core) and CPU per request, and peak RSS of each worker process."""
    at = _index(measurements)
    rows = [
        "| workload | conns | authserver CPU % | CPU ms/req | RSS per worker MiB | oidc-provider CPU % "
        "| CPU ms/req | RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        for level in _levels(measurements, workload.key):
            cells = [workload.title, str(level)]
            for server in (OURS, PEER):
                m = at.get((server, workload.key, level))
                cells += [
                    _cell(m, _fmt(m.cpu_percent) if m else ""),
                    _cell(m, f"{m.cpu_ms_per_request:.2f}" if m else ""),
                    _cell(m, ", ".join(_fmt(r) for r in m.rss_mib) if m else ""),
                ]
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def ceiling_lines(ceiling: Ceiling | None, measurements: list[Measurement]) -> list[str]:
    if ceiling is None:
        return ["Not measured (--no-ceiling)."]
    lines = [
        f"- RS256 signatures (2048-bit key, `cryptography`, one thread): "
        f"**{_fmt(ceiling.rs256_signs_per_s_per_core)}/s per core**",
        f"- argon2id verifications ({ceiling.argon2_params}, {ceiling.argon2_threads} threads): "
        f"**{ceiling.argon2_verifies_per_s:.1f}/s**",
    ]
    password = [m for m in measurements if m.server == OURS and m.workload == "password" and m.ok]
    if password and ceiling.argon2_verifies_per_s:
        best = max(password, key=lambda m: m.rps)
        lines.append(
            f"- password grant, best level ({best.connections} conns): {best.rps:.1f}/s = "
            f"**{best.rps / ceiling.argon2_verifies_per_s:.0%} of the argon2 limit**"
        )
    return lines


def render(report: Report) -> str:
    """The whole Markdown document (also what latest.md holds)."""
    parts = [
        f"# authserver vs node-oidc-provider — {report.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {report.machine}. Shared and noisy: compare figures from one run only; the ratio "
        "is the headline.",
        "",
        *[f"- {line}" for line in report.setup],
        "",
        "## Requests/s and latency",
        "",
        *throughput_table(report.measurements),
        "",
        *(
            [f"![requests/s per workload, ours and the peer's]({report.chart_file})", ""]
            if report.chart_file
            else []
        ),
        "## Server CPU and memory",
        "",
        *resources_table(report.measurements),
        "",
        "## Ceiling on this machine, same run",
        "",
        *ceiling_lines(report.ceiling, report.measurements),
    ]
    if report.audit:
        parts += ["", "## Refresh rotation: database rows after the run", "", *report.audit]
    if report.checks:
        parts += ["", "## Checked before timing", "", *[f"- {line}" for line in report.checks]]
    if report.notes:
        parts += ["", "## Notes", "", *[f"- {line}" for line in report.notes]]
    return "\n".join(parts) + "\n"


def chart(report: Report, path: Path) -> None:
    """Bars of requests/s per workload and concurrency for both servers, the ratio above each pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    at = _index(report.measurements)
    shown = [w for w in WORKLOADS if _levels(report.measurements, w.key)]
    columns = 3
    rows = (len(shown) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.8 * rows), squeeze=False)
    for ax, workload in zip(axes.flat, shown, strict=False):
        levels = _levels(report.measurements, workload.key)
        xs = range(len(levels))
        for offset, server, colour in ((-0.2, OURS, "#1f77b4"), (0.2, PEER, "#ff7f0e")):
            values = [_rps(at.get((server, workload.key, level))) for level in levels]
            ax.bar([x + offset for x in xs], values, width=0.4, label=server, color=colour)
        for x, level in zip(xs, levels, strict=True):
            r = ratio(at.get((OURS, workload.key, level)), at.get((PEER, workload.key, level)))
            top = max(_rps(at.get((s, workload.key, level))) for s in (OURS, PEER))
            ax.annotate(
                f"{r:.2f}x" if r is not None else "n/a", (x, top), ha="center", va="bottom", fontsize=9
            )
        _ceiling_line(ax, workload.key, report.ceiling)
        ax.set_title(workload.title, fontsize=10)
        ax.set_xticks(list(xs), [f"c={level}" for level in levels])
        ax.set_ylabel("requests/s")
        ax.margins(y=0.15)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        f"authserver vs node-oidc-provider, {report.started:%Y-%m-%d} — {report.machine}\n"
        "label: ratio ours/peer (requests/s)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rps(m: Measurement | None) -> float:
    return m.rps if m is not None and m.ok else 0.0


def _ceiling_line(ax: object, workload: str, ceiling: Ceiling | None) -> None:
    """The CPU limit for the workload's one expensive step, as a dashed line where it applies."""
    if ceiling is None:
        return
    limits = {
        "client_credentials": (ceiling.rs256_signs_per_s_per_core * _cpu_count(), "RS256 signs/s, all cores"),
        "password": (ceiling.argon2_verifies_per_s, "argon2id verifies/s"),
    }
    if workload in limits:
        value, label = limits[workload]
        ax.axhline(value, linestyle="--", color="grey", linewidth=1, label=label)  # type: ignore[attr-defined]
        ax.legend(fontsize=7)  # type: ignore[attr-defined]


def write(report: Report, results_dir: Path = RESULTS_DIR, with_chart: bool = True) -> list[Path]:
    """`<date>_<machine>.md` and `.png`, and latest.md (which the README quotes)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{report.started:%Y-%m-%d_%H%M}_{machine_tag()}"
    written = []
    if with_chart:
        png = results_dir / f"{stem}.png"
        chart(report, png)
        report.chart_file = png.name
        written.append(png)
    markdown = render(report)
    for path in (results_dir / f"{stem}.md", results_dir / "latest.md"):
        path.write_text(markdown)
        written.append(path)
    return written
