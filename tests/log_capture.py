"""Capture every log record with the server's real logging configuration at DEBUG (L1, L4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from authserver.log import QUIET_LOGGERS, JsonFormatter, configure_logging


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        formatter = JsonFormatter()
        return [formatter.format(r) for r in self.records]

    def tracebacks(self) -> list[str]:
        return [line for line in self.lines() if "Traceback" in line or '"exception"' in line]


@pytest.fixture
def server_logging() -> Iterator[Collect]:
    names = ["", "authserver", "uvicorn", "uvicorn.access", *QUIET_LOGGERS]
    saved = {n: (lg.level, lg.propagate, list(lg.handlers)) for n in names if (lg := logging.getLogger(n))}
    configure_logging("DEBUG")
    collect = Collect()
    logging.getLogger().setLevel(logging.DEBUG)
    for name in ("", "authserver", "uvicorn", "uvicorn.access"):
        logging.getLogger(name).addHandler(collect)
    try:
        yield collect
    finally:
        for name, (level, propagate, handlers) in saved.items():
            lg = logging.getLogger(name)
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = handlers
