"""A run's phases add up to the time measured: a phase timed inside another is not counted twice."""

from __future__ import annotations

from meterbridge.services.phases import Phases


def test_an_inner_phase_is_taken_out_of_the_outer_and_repeats_add_up() -> None:
    now = [0.0]
    phases = Phases(lambda: now[0])
    with phases.timing("read database"):
        now[0] += 2.0
        with phases.timing("price"):
            now[0] += 3.0
        now[0] += 1.0
    with phases.timing("price"):
        now[0] += 0.5
    assert phases.seconds == {"read database": 3.0, "price": 3.5}
    assert sum(phases.seconds.values()) == now[0]
