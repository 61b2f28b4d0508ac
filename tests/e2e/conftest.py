"""Failure tests report what they did and what they counted at the end of the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

_REPORTS: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    def add(**counts: Any) -> None:
        line = ", ".join(f"{key}: {value}" for key, value in counts.items())
        _REPORTS.append(f"{request.node.name}: {line}")

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORTS:
        terminalreporter.section("failure test reports")
        for line in _REPORTS:
            terminalreporter.write_line(line)
