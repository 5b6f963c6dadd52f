"""The app: ``create_app(ctx, settings)`` for tests and embedders, ``factory()`` for uvicorn
(``meterbridge serve`` starts it: settings from the environment, the context from
``runtime.build_context``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from meterbridge import runtime
from meterbridge.jobs.embedded import EmbeddedDispatcher
from meterbridge.services.context import Context
from meterbridge.settings import Settings
from meterbridge.web import console, errors, metrics
from meterbridge.web.api import router
from meterbridge.web.background import Background
from meterbridge.web.limits import BATCH, FORM, UPLOAD, BodyLimit, SignInLimiter, TextGuard

API_VERSION = "1.0.0"


def create_app(
    ctx: Context, settings: Settings | None = None, *, secure_cookies: bool = True, scheduler: bool = False
) -> FastAPI:
    """``scheduler``: run due schedules and deliver messages in this process (the embedded
    dispatcher; ``meterbridge serve`` turns it on unless MBRIDGE_SCHEDULER=false)."""
    settings = settings or Settings()
    measured = metrics.Metrics()
    ctx.observer = measured.connectwise_call
    background = Background(measured, ctx.monotonic)
    dispatcher = EmbeddedDispatcher(ctx, tick_seconds=settings.tick_seconds) if scheduler else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if dispatcher is not None:
            dispatcher.start()
        yield
        if dispatcher is not None:
            await dispatcher.stop()
        await background.stop()

    app = FastAPI(
        title="meterbridge",
        version=API_VERSION,
        summary="Backup usage to explained, never-twice billing in ConnectWise Manage",
        description=(
            "Every route under /api/v1/tenants/{tenant} needs an API token (`Authorization: Bearer mb_...`) or a "
            "session (its cookie, and `X-CSRF-Token` for changes) with the role the route names in `x-role`. "
            "Errors are JSON: kind, message, field, row, position, hint, action. See docs/api.md."
        ),
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.settings = settings
    app.state.metrics = measured
    app.state.background = background
    app.state.sign_ins = SignInLimiter(ctx, proxies=settings.trusted_proxy_networks)  # MBRIDGE_TRUSTED_PROXIES
    app.state.secure_cookies = secure_cookies
    app.state.dispatcher = dispatcher
    errors.install(app, settings)
    metrics.install(app, measured, ctx.monotonic)
    app.include_router(router)
    console.install(app)
    app.add_middleware(BodyLimit, large={"/usage": BATCH, "/usage/csv": UPLOAD, console.UPLOAD_SUFFIX: UPLOAD + FORM})
    app.add_middleware(TextGuard)
    return app


def factory() -> FastAPI:
    """For uvicorn: ``uvicorn --factory meterbridge.web.app:factory`` (what ``meterbridge serve`` runs)."""
    settings = Settings()
    return create_app(
        runtime.build_context(settings),
        settings,
        secure_cookies=settings.secure_cookies,
        scheduler=settings.scheduler,
    )
