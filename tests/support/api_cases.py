"""schemathesis with one test item per API operation, its cases built when the item runs.

``schema.parametrize()`` builds every operation's hypothesis test while pytest collects,
coverage cases included: for cwsim's and meterbridge's schemas that was most of the suite's
collection time, paid again by every ``pytest -k one_test``. Here the items are the operations'
labels, read from the document, and each item builds its operation's test when it runs, with
the same builder ``parametrize`` calls (the same phases, coverage and fuzzing cases, seed per
operation and ``@settings``). ``schemathesis.pytest.from_fixture`` would defer the building too,
but runs every operation inside one item (and its runner does not work with pytest 9).

    cases = OperationCases(document)

    @cases.parametrize()
    @settings(max_examples=examples(25))
    def test_something(case): ...

The builder is schemathesis' own (``schemathesis.pytest._test_builder``), so pyproject.toml
holds schemathesis to the minor version this was written against.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operation_labels(document: dict[str, Any]) -> list[str]:
    """Every operation of an OpenAPI document as schemathesis labels it: ``"GET /path"``."""
    return [
        f"{method.upper()} {path}"
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in METHODS
    ]


class OperationCases:
    def __init__(self, document: dict[str, Any]) -> None:
        self.schema = schemathesis.openapi.from_dict(document)
        self.labels = operation_labels(document)

    @functools.cached_property
    def _feedback(self) -> FeedbackSources:
        # the whole schema's constants, as parametrize() gives every operation's test
        return FeedbackSources(constants_value_source=make_constants_value_source(self.schema))

    def build(self, label: str, test: Callable[..., None]) -> Callable[..., None]:
        """The hypothesis test of ``test`` for the operation ``label``."""
        method, path = label.split(" ", 1)
        [result] = list(self.schema.include(method=method, path=path).get_all_operations())
        built: Callable[..., None] = build_operation_test(
            config=self.schema.config, operation=result.ok(), test_func=test, given_kwargs={}, feedback=self._feedback
        )
        return built

    def parametrize(self) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """An item per operation for a test taking ``case`` (and any fixtures)."""

        def decorate(test: Callable[..., None]) -> Callable[..., None]:
            fixtures = [p for name, p in inspect.signature(test).parameters.items() if name != "case"]

            def run(operation: str, **values: Any) -> None:
                __tracebackhide__ = True
                try:
                    self.build(operation, test)(**values)
                except FailureGroup as failures:
                    raise as_reported_failure(failures) from None

            # the test's name and marks, not its hypothesis settings: ``run`` is no hypothesis test
            functools.update_wrapper(run, test, updated=())
            del run.__wrapped__  # pytest reads the signature below, not the test's
            run.pytestmark = list(getattr(test, "pytestmark", []))  # type: ignore[attr-defined]
            parameter = inspect.Parameter("operation", inspect.Parameter.POSITIONAL_OR_KEYWORD)
            run.__signature__ = inspect.Signature([parameter, *fixtures])  # type: ignore[attr-defined]
            return pytest.mark.parametrize("operation", self.labels)(run)

        return decorate
