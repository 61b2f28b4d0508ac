"""A platform whose catalog serves its API but never hears of orders: every saga stalls
at `pending`, so a test decides what happens to an order next (cancel, expiry, charge)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from panthera import app
from panthera.app import Platform, create_platform
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services import catalog
from tests.conftest import GENEROUS_GATEWAY


@pytest.fixture
async def platform(
    settings: Settings,
    service_settings: dict[str, ServiceSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Platform]:
    deaf = dataclasses.replace(catalog.spec, handlers={})
    monkeypatch.setitem(app.SERVICES, "catalog", deaf)
    platform = create_platform(
        settings, service_settings=service_settings, gateway_settings=GENEROUS_GATEWAY
    )
    async with platform.running():
        yield platform
