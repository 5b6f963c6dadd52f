"""A push while it runs, as a person follows it: companies done of how many, writes done, and the
money its writes have changed so far (services/live.py)."""

from __future__ import annotations

from meterbridge.domain.money import ZERO
from meterbridge.services.views.base import Exact, View


class PushProgress(View):
    run: int
    planning: bool  # the plan is being made: nothing below is known yet
    writes_done: int = 0
    writes_total: int = 0
    landed: int = 0
    failed: int = 0
    companies_done: int = 0  # every write of the company landed or failed
    companies_total: int = 0  # the companies the plan writes to
    billed_before: Exact = ZERO  # what the invoices charge before the push (the plan's lines)
    change_planned: Exact = ZERO  # what the plan's writes change, all of them landed
    change_so_far: Exact = ZERO  # what the writes that landed change, as ConnectWise answered them
    billed_so_far: Exact = ZERO  # billed_before + change_so_far
