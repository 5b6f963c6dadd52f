"""Usage sources meterbridge pulls (an HTTP JSON API per tenant), and pulling one now."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from meterbridge.services import pulls
from meterbridge.services.views import ImportView, SourceView
from meterbridge.web.api.bodies import SourceIn
from meterbridge.web.deps import Admin, Billing, Viewer

router = APIRouter(tags=["usage"])


@router.get("/sources", response_model=list[SourceView])
def list_sources(call: Viewer) -> list[SourceView]:
    """Each source, when it is pulled next and how its last pull went."""
    return pulls.list_sources(call.ctx, call.tenant)


@router.get("/sources/{name}", response_model=SourceView)
def get_source(call: Viewer, name: str) -> SourceView:
    return pulls.show_source(call.ctx, call.tenant, name)


@router.put("/sources/{name}", response_model=SourceView)
def save_source(call: Admin, name: str, body: SourceIn) -> SourceView:
    """Add or change a source; an option it would not use is refused, naming it."""
    return pulls.save_source(
        call.ctx, call.tenant, name, url=body.url, mapping=body.mapping, auth_header=body.auth_header,
        auth_value=body.auth_value.get_secret_value() if body.auth_value else None, every=body.every,
        at_minute=body.at_minute, enabled=body.enabled, options=body.options, actor=call.actor,
    )  # fmt: skip


@router.delete("/sources/{name}", response_model=SourceView)
def remove_source(call: Admin, name: str) -> SourceView:
    """Remove the source (its samples and imports stay)."""
    return pulls.remove_source(call.ctx, call.tenant, name, actor=call.actor)


@router.post("/sources/{name}/pull", response_model=ImportView)
async def pull_source(call: Billing, name: str) -> ImportView:
    """Pull it now, every page: the good records stored, the bad ones in the answer's errors."""
    view: ImportView = await run_in_threadpool(pulls.pull, call.ctx, call.tenant, name, actor=call.actor)
    return view
