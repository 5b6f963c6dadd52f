"""Fixtures for the ConnectWise client: settings for cwsim, and time both sides share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tests.cwsim.conftest import many_companies
from tests.support.clocks import FakeMonotonic

from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from meterbridge.connectwise import ConnectionSettings, ConnectWiseClient

PRIVATE_KEY = "priv-Zq8-very-secret"


def settings_for(url: str, **overrides: Any) -> ConnectionSettings:
    values: dict[str, Any] = {
        "site": url,
        "company_id": "sim",
        "public_key": "simpub",
        "private_key": "simpriv",
        "client_id": "8d0e2c36-2f5c-4d0e-9a57-1d7bfbd1e7b4",
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


class SharedTime:
    """The client's sleep moves the fake clock cwsim's rate limiter reads: waits cost no real time."""

    def __init__(self, monotonic: FakeMonotonic) -> None:
        self.monotonic = monotonic
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.monotonic.advance(seconds)


@pytest.fixture
def shared_time(monotonic: FakeMonotonic) -> SharedTime:
    return SharedTime(monotonic)


@pytest.fixture
def make_client(live_url: str, shared_time: SharedTime, monotonic: FakeMonotonic) -> Callable[..., ConnectWiseClient]:
    clients: list[ConnectWiseClient] = []

    def make(**overrides: Any) -> ConnectWiseClient:
        client = ConnectWiseClient(
            settings_for(live_url, **overrides),
            clock=monotonic,
            sleep=shared_time.sleep,
            jitter=lambda low, high: high,
        )
        clients.append(client)
        return client

    return make


@pytest.fixture
async def client(make_client: Callable[..., ConnectWiseClient]) -> AsyncIterator[ConnectWiseClient]:
    async with make_client() as connected:
        yield connected


def add_companies(sim: Simulator, count: int) -> None:
    load_scenario(sim, many_companies(count))
