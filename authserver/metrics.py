"""Prometheus metrics, served at `GET /metrics` (or on `AUTHSERVER_METRICS_PORT`).

With `serve --workers N`, every worker writes its samples to files under
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode, set up by `serve`), and a scrape
of any worker reports all of them as one server.

Most counters are derived from audit events once their transaction commits (`domain/audit.py`),
so a rolled-back revocation is never counted; tokens issued are counted by the HTTP glue after the
request's transaction committed. Nothing here ever holds a credential: labels are endpoints,
grant types, outcomes and reasons from fixed sets.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "authserver_http_requests", "HTTP requests answered, by endpoint and outcome.", ["endpoint", "status"]
)
LATENCY = Histogram(
    "authserver_http_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
TOKENS_ISSUED = Counter("authserver_tokens_issued", "Token responses issued, by grant type.", ["grant_type"])
REUSE_DETECTED = Counter(
    "authserver_reuse_detected", "Codes or refresh tokens presented again (families revoked).", ["kind"]
)
REVOCATIONS = Counter("authserver_revocations", "Families and access tokens revoked, by reason.", ["reason"])
RATE_LIMITED = Counter(
    "authserver_rate_limited", "Requests refused by a rate limit, by endpoint.", ["endpoint"]
)
SIGNING_KEY_AGE = Gauge(
    "authserver_signing_key_age_seconds",
    "Seconds since the current signing key started signing.",
    multiprocess_mode="max",
)
DB_POOL_IN_USE = Gauge(
    "authserver_db_pool_connections_in_use",
    "Database connections checked out of the pool, summed over live workers.",
    multiprocess_mode="livesum",
)

# Audit events that are also metrics (see `count_audit_event`).
_REUSE_EVENTS = {"family.revoked.refresh_reuse": "refresh_token", "family.revoked.code_reuse": "code"}


def count_audit_event(event: str) -> None:
    """Called for each committed audit event."""
    if event.startswith("family.revoked."):
        REVOCATIONS.labels(reason=event.removeprefix("family.revoked.")).inc()
        if event in _REUSE_EVENTS:
            REUSE_DETECTED.labels(kind=_REUSE_EVENTS[event]).inc()
    elif event == "token.revoked":
        REVOCATIONS.labels(reason="access_token").inc()


def render() -> tuple[bytes, str]:
    """The exposition text: every worker's samples in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_process(pid: int) -> None:
    """A worker that exits takes its live gauges with it (multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
