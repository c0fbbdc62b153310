"""authserver/http/app.py: what the application does at start-up for `serve`."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from authserver.context import AppContext
from authserver.http import app as app_module
from authserver.http.app import create_app


async def test_serve_workers_freeze_the_start_up_heap(ctx: AppContext) -> None:
    """Full garbage collections walked every start-up object and paused a worker 60-120 ms
    under load; frozen after start-up, they skip them (docs/architecture.md, "Serving")."""
    gc.unfreeze()
    app = create_app(ctx, freeze_heap=True)
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_apps_in_tests_leave_the_heap_alone(ctx: AppContext) -> None:
    gc.unfreeze()
    app = create_app(ctx)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0


def test_the_serve_factory_asks_for_the_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, Any] = {}
    monkeypatch.setattr(app_module, "load_settings", lambda: type("S", (), {"log_level": "WARNING"})())
    monkeypatch.setattr(app_module, "configure_logging", lambda level: None)
    monkeypatch.setattr(app_module.AppContext, "create", staticmethod(lambda settings: "ctx"))
    monkeypatch.setattr(app_module, "create_app", lambda ctx, **kwargs: asked.update(kwargs))
    app_module.app_from_environment()
    assert asked == {"owns_context": True, "freeze_heap": True}
