"""How deep the property tests go: hypothesis profiles, registered in one place.

- ``ci`` (the default: ``scripts/test`` and CI run it): every property test at its full depth,
  the number of examples written beside it as ``examples(N)``.
- ``dev`` (``HYPOTHESIS_PROFILE=dev scripts/test ...``): a tenth of that, for quick local
  iteration. Never what CI runs.
- ``replay`` (``HYPOTHESIS_PROFILE=replay``): the failing examples hypothesis stored in
  ``.hypothesis/`` first, as they were, then new ones at full depth, none shrunk: to see a fix
  work on the cases that failed in seconds, not in the minutes a shrink takes.

Both profiles drop hypothesis' per-example deadline: speed is measured by the benches under
``bench/``, not by timed assertions, and a loaded 2-core machine running two test workers is no
place to time an example. A test that counts the paths its examples reached (the stateful
billing test) scales its requirement with ``at_least``.
"""

from __future__ import annotations

import os

from hypothesis import Phase, settings

FULL = 100  # the ci profile's max_examples: ``examples(N)`` is N under it
PROFILES = {"ci": FULL, "dev": FULL // 10, "replay": FULL}
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # the replay profile's phases


def load_profile() -> str:
    """Register both profiles and load the one HYPOTHESIS_PROFILE names (``ci`` when unset)."""
    for name, max_examples in PROFILES.items():
        phases = NO_SHRINK if name == "replay" else tuple(Phase)
        settings.register_profile(name, max_examples=max_examples, deadline=None, phases=phases)
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if name not in PROFILES:
        raise ValueError(f"HYPOTHESIS_PROFILE={name!r}: use one of {', '.join(PROFILES)}")
    settings.load_profile(name)
    return name


def _scale() -> float:
    return settings.default.max_examples / FULL


def examples(full: int) -> int:
    """The number of examples for a test that runs ``full`` of them in CI (at least 1)."""
    return max(1, round(full * _scale()))


def at_least(full: int) -> int:
    """A count a test requires of its examples in CI, scaled to the profile (may be 0 in ``dev``)."""
    return int(full * _scale())
