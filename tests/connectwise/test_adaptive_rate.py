"""The client's pacing (connectwise/pacing.py, limits.py) on a clock the tests move: a throttle
pauses every request at once, halves the requests in flight and teaches the rate ConnectWise
grants; both grow back slowly; a throttled request gives up only when nothing has been answered
for the patience (a run-wide deadline), never after a count of retries."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from tests.connectwise.conftest import SharedTime, add_companies, settings_for
from tests.support.clocks import FakeMonotonic
from tests.support.server import serve

from cwsim.ratelimit import RateLimiter
from cwsim.sim import Simulator
from meterbridge.connectwise import ConnectWiseClient, TemporaryError
from meterbridge.connectwise.limits import Bucket
from meterbridge.connectwise.pacing import GROWTH, Pacer

pytestmark = pytest.mark.anyio
MakeClient = Callable[..., ConnectWiseClient]


def pacer(time: SharedTime, *, per_minute: int = 900, in_flight: int = 8, patience: float = 600.0) -> Pacer:
    return Pacer(
        per_minute=per_minute,
        max_in_flight=in_flight,
        patience_seconds=patience,
        clock=time.monotonic,
        sleep=time.sleep,
    )


# -- the bucket ------------------------------------------------------------------------------


def test_a_fixed_bucket_starts_full_then_earns_its_rate() -> None:
    bucket = Bucket(1.0, 3.0, 0.0, tokens=3.0)
    for _ in range(3):
        assert bucket.wait(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.wait(0.0) == 1.0
    assert bucket.wait(0.25) == 0.75
    assert bucket.wait(10.0) == 0.0 and bucket.tokens == 3.0, "never more than its capacity"
    bucket.empty(10.0)
    assert bucket.wait(10.0) == 1.0


def test_a_growing_bucket_earns_a_token_exactly_when_it_says() -> None:
    bucket = Bucket(0.5, 1.0, 100.0, growth=0.02)
    now = 100.0
    for _ in range(50):
        wait = bucket.wait(now)
        assert wait < 2.0 or now == 100.0, "each token comes sooner than the one before"
        now += wait
        assert bucket.wait(now) == 0.0
        bucket.take(now)
    assert bucket.rate_at(now) == pytest.approx(0.5 * math.exp(0.02 * (now - 100.0)))
    assert (bucket.rate_at(now) - 0.5) / 0.02 == pytest.approx(50), "the tokens earned are the rate's integral"


# -- pauses, the window ----------------------------------------------------------------------


async def test_a_throttle_pauses_every_request_once_together(monotonic: FakeMonotonic) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time)
    lefts: list[float] = []
    async with pace.slot() as ticket:
        pass
    assert pace.throttled(ticket, 2.0) is None

    async def request() -> None:
        async with pace.slot():
            lefts.append(monotonic.now)

    await asyncio.gather(*(request() for _ in range(8)))
    assert time.slept == [2.0], "one pause, waited out by all of them at once, not by each on its own"
    assert lefts == [1002.0] * 8
    assert pace.state().paused_seconds == 2.0


async def test_the_window_halves_once_per_slowdown_and_grows_back_by_answers(monotonic: FakeMonotonic) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time)
    slots = [pace.slot() for _ in range(8)]
    tickets = [await slot.__aenter__() for slot in slots]
    assert pace.in_flight_limit == 8
    await slots[0].__aexit__(None, None, None)
    pace.throttled(tickets[0], 1.0)
    assert pace.in_flight_limit == 4, "8 in flight, cut to half"
    for slot, ticket in zip(slots[1:], tickets[1:], strict=True):
        await slot.__aexit__(None, None, None)
        pace.throttled(ticket, 1.0)  # sent before the cut: the same slowdown, seen again
    assert pace.in_flight_limit == 4 and pace.state().slowdowns == 1 and pace.state().throttled == 8
    answers = 0
    while pace.in_flight_limit < 8:
        pace.answered(progress=True)
        answers += 1
    assert 22 <= answers <= 26, "one more in flight per window of answers (about 4 + 5 + 6 + 7)"


async def test_requests_wait_for_a_place_in_flight(monotonic: FakeMonotonic) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time, in_flight=2)
    first, second = pace.slot(), pace.slot()
    await first.__aenter__()
    await second.__aenter__()
    third = asyncio.ensure_future(pace.slot().__aenter__())
    await asyncio.sleep(0)
    assert not third.done(), "two in flight already"
    await first.__aexit__(None, None, None)
    await asyncio.sleep(0)
    assert third.done() and time.slept == [], "it waited for the answer, not on the clock"


# -- the learnt rate -------------------------------------------------------------------------


async def test_the_rate_between_two_slowdowns_is_learnt_and_kept_to(monotonic: FakeMonotonic) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time)
    async with pace.slot() as ticket:
        pass
    pace.throttled(ticket, 1.0)  # the burst is spent: ConnectWise's bucket is empty now
    assert pace.state().learnt_per_minute is None, "one slowdown says nothing of the rate"
    for _ in range(30):  # 30 answers in the next 20 seconds, then empty again
        async with pace.slot():
            pass
        pace.answered(progress=True)
        time.monotonic.advance(20 / 30)
    async with pace.slot() as ticket:
        pass
    pace.throttled(ticket, 1.0)
    state = pace.state()
    assert state.learnt_per_minute is not None
    assert state.learnt_per_minute == pytest.approx(30 / 21 * 60), "30 answered in 21 s (the pause and 20 s)"
    assert state.slowdowns == 2
    time.slept.clear()
    for _ in range(10):
        async with pace.slot():
            pass
    assert time.slept[0] == 1.0, "the pause first"
    gaps, rate = time.slept[1:], state.learnt_per_minute / 60
    assert all(0.85 / rate < gap < 1 / rate for gap in gaps), "then one at the learnt rate"
    assert gaps == sorted(gaps, reverse=True), "a little faster each time: it grows back"


async def test_a_learnt_rate_grows_back_and_is_forgotten_past_the_own_limit(monotonic: FakeMonotonic) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time, per_minute=120)
    for _ in range(2):
        async with pace.slot() as ticket:
            pass
        pace.answered(progress=True)
        time.monotonic.advance(1.0)
        pace.throttled(ticket, 0.0)
    learnt = pace.state().learnt_per_minute
    assert learnt is not None and learnt == pytest.approx(60.0)
    time.monotonic.advance(math.log(2) / GROWTH + 1)  # doubled: past the connection's own 120 a minute
    async with pace.slot():
        pass
    assert pace.state().learnt_per_minute is None
    assert pace.state().lowest_per_minute == pytest.approx(60.0)


async def test_slowdowns_with_nothing_answered_learn_nothing_and_one_at_most_halves_the_rate(
    monotonic: FakeMonotonic,
) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time)
    for _ in range(3):  # a storm of throttles (a fault, say), nothing answered between them
        async with pace.slot() as ticket:
            pass
        pace.throttled(ticket, 1.0)
    assert pace.state().learnt_per_minute is None and pace.in_flight_limit == 1
    for answers in (60, 1):  # 60 answered in a minute, then 1 in the next: ConnectWise full each time
        async with pace.slot() as ticket:
            pass
        for _ in range(answers):
            pace.answered(progress=True)
        time.monotonic.advance(60.0 - 1.0)  # and its pause of 1 s
        pace.throttled(ticket, 1.0)
        if answers == 60:
            assert pace.state().learnt_per_minute == pytest.approx(60.0, rel=0.02)
    learnt = pace.state().learnt_per_minute
    assert learnt is not None and learnt == pytest.approx(60.0 * math.exp(GROWTH * 60.0) / 2, rel=0.02)


# -- the run-wide deadline -------------------------------------------------------------------


async def test_throttled_requests_give_up_only_when_nothing_was_answered_for_the_patience(
    monotonic: FakeMonotonic,
) -> None:
    time = SharedTime(monotonic)
    pace = pacer(time, patience=60.0)
    for _ in range(200):  # long throttled, but something is answered every few seconds
        async with pace.slot() as ticket:
            pass
        assert pace.throttled(ticket, 5.0) is None
        async with pace.slot():
            pass
        pace.answered(progress=True)
    assert monotonic.now - 1000.0 >= 200 * 5.0, "over 16 minutes of throttles, nobody gave up"
    progress, idles = monotonic.now, []
    while True:
        async with pace.slot() as ticket:
            pass
        pace.answered(progress=False)  # a 5xx is no progress
        idles.append(monotonic.now - progress)
        if (idle := pace.throttled(ticket, 5.0)) is not None:
            break
    assert idle == idles[-1] and idle + 5.0 > 60.0, "its wait would pass 60 s with nothing answered"
    assert all(before + 5.0 <= 60.0 for before in idles[:-1]), "and not one before it"
    async with pace.slot() as ticket:
        pass
    assert pace.throttled(ticket, 5.0) is not None, "every throttle after it gives up at once"


# -- against cwsim's limiter -----------------------------------------------------------------


@pytest.mark.parametrize(("limit", "calls"), [(60, 134), (600, 1300)])
async def test_eight_writers_against_a_limit_finish_near_the_floor(
    monotonic: FakeMonotonic, limit: int, calls: int
) -> None:
    """cwsim's own limiter (a full bucket of ``limit``, then ``limit``/60 a second) read on the
    shared clock: 8 writers, no latency; the push of the demo's 50 companies makes 134 calls."""
    time = SharedTime(monotonic)
    server = RateLimiter(limit, monotonic)
    pace = pacer(time)
    todo = iter(range(calls))
    throttled = 0

    async def writer() -> None:
        nonlocal throttled
        for _ in todo:
            while True:
                async with pace.slot() as ticket:
                    await asyncio.sleep(0)  # the others go on while this one is in flight
                    wait = server.take("simpub")
                if wait is None:
                    pace.answered(progress=True)
                    break
                throttled += 1
                assert pace.throttled(ticket, wait) is None

    started = monotonic.now
    await asyncio.gather(*(writer() for _ in range(8)))
    floor = (calls - limit) / (limit / 60)
    assert floor <= monotonic.now - started <= floor * 1.15
    assert throttled <= 25, "slowed down, not retried at full width (the old client: hundreds)"
    assert pace.state().slowdowns >= 2 and pace.state().lowest_in_flight_limit < 8


# -- over loopback HTTP ----------------------------------------------------------------------


async def test_eight_writers_over_loopback_at_60_a_minute_all_get_through(
    make_client: MakeClient, sim: Simulator, shared_time: SharedTime
) -> None:
    """cwsim on a real socket, its limiter on the clock the client's waits move: 134 calls (the
    demo's push) by 8 workers at 60 a minute. The old client retried each 429 on its own after a
    second, at full width (hundreds of 429s), and failed a request after 24 of them."""
    add_companies(sim, 134)
    sim.state.settings.rate_limit_per_minute = 60
    todo = iter(range(1, 135))
    got: dict[int, str] = {}
    async with make_client() as client:
        await client.codebase()

        async def worker() -> None:
            for company_id in todo:
                got[company_id] = (await client.get(f"company/companies/{company_id}"))["identifier"]

        await asyncio.gather(*(worker() for _ in range(8)))
    assert got == {i: f"C{i:05d}" for i in range(1, 135)}, "every call answered, none failed"
    throttled = sum(1 for e in sim.traffic.requests() if e["status"] == 429)
    assert throttled == client.stats.rate_limited <= 40, "8 at the burst's end, then a few at each slowdown"
    floor = 134 - 60  # a burst of 60, then one a second
    assert floor <= sum(shared_time.slept) <= floor * 1.15
    pacing = client.pacing
    assert pacing.slowdowns >= 2 and pacing.lowest_in_flight_limit < 8
    assert pacing.lowest_per_minute is not None and pacing.lowest_per_minute <= 66, "it slowed to about 60"
    # learnt within a halving of the 60 granted: where the slowdowns fall moves with the machine's load
    assert pacing.learnt_per_minute is not None and 30 <= pacing.learnt_per_minute <= 100


class Overloaded:
    """An ASGI server that answers its first ``busy`` requests 503 with Retry-After, then 200."""

    def __init__(self, busy: int, retry_after: str = "2") -> None:
        self.busy, self.retry_after, self.seen = busy, retry_after, 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen += 1
        busy = self.seen <= self.busy
        body = json.dumps({"code": "Busy", "message": "try later"} if busy else {"id": 1, "name": "x"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if busy:
            headers.append((b"retry-after", self.retry_after.encode()))
        await send({"type": "http.response.start", "status": 503 if busy else 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def test_a_503_with_retry_after_paces_like_a_429_but_a_write_is_not_repeated(shared_time: SharedTime) -> None:
    server = Overloaded(busy=2)
    with serve(server) as url:
        settings = settings_for(url, codebase="v4_6_release/")
        async with ConnectWiseClient(settings, clock=shared_time.monotonic, sleep=shared_time.sleep) as client:
            assert (await client.get("company/companies/1"))["id"] == 1
            assert shared_time.slept == [2.0, 2.0], "its Retry-After waited out, not the backoff"
            assert client.stats.rate_limited == 2 and client.pacing.slowdowns == 2
            server.seen, server.busy = 0, 1
            with pytest.raises(TemporaryError) as failed:
                await client.create("company/companies", {"identifier": "x", "name": "x"})
            assert failed.value.maybe_applied is True, "a 503 to a POST may have been applied: not sent again"
            assert server.seen == 1 and client.pacing.throttled == 3
            await client.get("company/companies/1")
            assert shared_time.slept[-1] >= 2.0, "but everyone still waits its Retry-After (at least)"
        server.seen, server.busy, server.retry_after = 0, 1, "soon"
        async with ConnectWiseClient(
            settings_for(url, codebase="v4_6_release/", max_attempts=1), sleep=shared_time.sleep
        ) as plain:
            with pytest.raises(TemporaryError):
                await plain.get("company/companies/1")  # without a number it is an ordinary 5xx
            assert plain.pacing.throttled == 0
