"""Errors raised while parsing or evaluating a ``conditions`` expression."""

from __future__ import annotations

#: ConnectWise appends this to its message for a malformed condition (API-NOTES.md section 4).
GRAMMAR_HINT = (
    "String values should be enclosed with double or single quotes; DateTime values should be "
    "enclosed in square brackets; numbers should consist of only digits, and optionally a decimal "
    "point and a negation sign; boolean values should be indicated with the keywords true or false; "
    "null values should be indicated by the keyword null."
)


class ConditionsError(ValueError):
    """The conditions text is malformed or does not fit the fields it names.

    ``detail`` says what is wrong, ``position`` is the 0-based offset in the text where it was
    found (None for type errors, which ConnectWise reports without a position), and ``message``
    is the whole text ConnectWise would answer with.
    """

    def __init__(self, detail: str, position: int | None = None) -> None:
        self.detail = detail
        self.position = position
        where = f" at position {position}" if position is not None else ""
        self.message = f"{detail}{where}. {GRAMMAR_HINT}"
        super().__init__(self.message)
