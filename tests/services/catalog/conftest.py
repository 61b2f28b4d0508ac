"""Helpers for catalog tests: the runtime, and categories and products made through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from panthera.app import Platform
from panthera.services.catalog.runtime import CatalogRuntime
from tests.conftest import Account


@pytest.fixture
def catalog(platform: Platform) -> CatalogRuntime:
    runtime: CatalogRuntime = platform.hosts["catalog"].runtime
    return runtime


async def make_category(
    client: httpx.AsyncClient, admin: Account, name: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/categories", json={"name": name, **extra}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_product(
    client: httpx.AsyncClient, admin: Account, name: str = "Thing", **extra: Any
) -> dict[str, Any]:
    body = {
        "sku": f"SKU-{uuid.uuid4().hex[:10]}",
        "name": name,
        "description": "",
        "price": 1000,
        "currency": "EUR",
        **extra,
    }
    response = await client.post("/v1/products", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
