"""Structured JSON log lines (one object per line, so CR/LF in values cannot forge lines: L3)."""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

# Database drivers and HTTP clients log statements, bound parameters and URLs at DEBUG: that would
# put password hashes and tokens in the log (L1), so they stay at WARNING whatever the app's level.
# Authlib logs issued tokens at DEBUG ("Issue token %r").
QUIET_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy", "httpx", "httpcore", "multipart", "authlib")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "authserver": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
            # uvicorn's access line holds the full request target (query strings: id_token_hint,
            # login_hint, state). It stays without handlers, which turns it off; ours
            # (authserver.access, http/access_log.py) logs the path only.
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        }
        | {name: {"level": "WARNING"} for name in QUIET_LOGGERS},
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(logging_config(level))
