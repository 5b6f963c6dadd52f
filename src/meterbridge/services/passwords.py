"""What a new password must be (after NIST SP 800-63B, 5.1.1.2): long enough, and not one an
attacker tries first. No composition rules (no "one digit, one symbol"), no expiry.

A password is refused when, looked at with its whitespace runs counted as one space and its
ends trimmed (it is stored exactly as given: the trimming only decides what counts):

* it has fewer than 12 characters (twelve spaces have none), or more than 1,000;
* it is, or contains, the username, or is part of it (case ignored);
* it is one character repeated (``aaaaaaaaaaaa``), a short pattern repeated (``abcabcabcabc``,
  ``121212121212``), a run along the alphabet, the digits or a keyboard row, either way and
  wrapping round (``123456789012``, ``abcdefghijkl``, ``qwertyuiopas``), or at most two such
  runs and repeats end to end (``aaaaaa111111``, ``abcdefgh1234``);
* it is on the bundled list of common passwords known from breaches (breached-passwords.txt),
  case ignored, also once digits and symbols at its ends are taken off and common letter
  substitutions read back (``P@ssw0rd2024!`` is ``password``).

Existing passwords are not checked again: the rules apply when one is set.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from importlib import resources

from meterbridge.services.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1000
_ADVICE = "a few unrelated words make a good one"
_AFFIXES = "0123456789!@#$%^&*()_+-=[]{};:'\",.<>/?\\|`~ "
_LEET_I = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_LEET_L = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "l", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_ROWS = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "!@#$%^&*()",
)


@functools.cache
def breached() -> frozenset[str]:
    """The bundled list, lower-case (loaded on first use)."""
    text = resources.files("meterbridge.services").joinpath("breached-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _refuse(message: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"password: {message}", field="password", hint=hint)


def _along_a_row(text: str) -> bool:
    """A run along one of the rows (either way, wrapping round)."""
    for row in _ROWS:
        for line in (row, row[::-1]):
            if text in line * (len(text) // len(line) + 2):
                return True
    return False


def _pieces(text: str) -> int:
    """How many runs of one step (-1, 0 or +1 between neighbouring characters) make up ``text``."""
    pieces, step = 1, None
    for left, right in itertools.pairwise(text):
        here = ord(right) - ord(left)
        if step is None and here in (-1, 0, 1):
            step = here
        elif here != step:
            pieces, step = pieces + 1, None
    return pieces


def _repeated(text: str) -> bool:
    """A shorter unit repeated (``abcabc``), or one character."""
    return (text + text).find(text, 1) < len(text)


def check(password: str, username: str) -> None:
    """Refuse a password that breaks the rules above; the message names the field ``password``."""
    counted = " ".join(password.split())
    if not counted:
        raise _refuse(f"only spaces; use at least {MIN_LENGTH} characters", _ADVICE)
    if len(counted) < MIN_LENGTH:
        raise _refuse(
            f"use at least {MIN_LENGTH} characters (spaces at the ends, and repeated spaces, are not counted)",
            _ADVICE,
        )
    if len(password) > MAX_LENGTH:
        raise _refuse(f"use at most {MAX_LENGTH} characters")
    folded = unicodedata.normalize("NFKC", counted).casefold()
    bare = "".join(folded.split())
    name = "".join(username.casefold().split())
    if name and (name in bare or bare in name):
        raise _refuse("must not be or contain the username")
    if len(set(bare)) == 1:
        raise _refuse("one character repeated", _ADVICE)
    if _repeated(bare):
        raise _refuse("a short pattern repeated", _ADVICE)
    if _along_a_row(bare) or _pieces(bare) <= 2:
        raise _refuse("a sequence or runs of one character (like 123456789012, abcdefghijkl or aaaaaa111111)", _ADVICE)
    core = bare.strip(_AFFIXES)
    known = breached()
    if {bare, core, core.translate(_LEET_I), core.translate(_LEET_L)} & known:
        raise _refuse("a common password, known from breaches of other sites", "choose another, not a variant of it")
