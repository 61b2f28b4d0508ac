"""The catalog as checkout sees it: a product's current name and price, or nothing.

Prices never come from the client: checkout reads them here when the order is
placed. The HTTP adapter reads the catalog's public API through the client the
host gives (in-process or over the network, the orders service never knows).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import structlog
from pydantic import BaseModel, ValidationError

from panthera.kernel.errors import BadRequest, ServiceUnavailable
from panthera.kernel.http_client import ServiceClient

log = structlog.get_logger("panthera.orders.catalog")


@dataclass(frozen=True)
class Product:
    product_id: uuid.UUID
    sku: str
    name: str
    price: int
    currency: str


class Catalog(Protocol):
    async def product(self, product_id: uuid.UUID) -> Product | None:
        """The product as sold now; None if the catalog does not know it."""
        ...


class _ProductBody(BaseModel):
    sku: str
    name: str
    price: int
    currency: str


class HttpCatalog:
    """The catalog's `GET /v1/products/{id}`, with the client's timeouts and breaker."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def product(self, product_id: uuid.UUID) -> Product | None:
        status, body = await self.client.get_json(f"/v1/products/{product_id}")
        if status == 404:
            return None
        if status != 200:
            raise BadRequest(f"Product {product_id} cannot be ordered (catalog said {status})")
        try:
            found = _ProductBody.model_validate(body)
        except ValidationError as exc:
            log.warning("catalog_answer_malformed", product_id=str(product_id), error=str(exc))
            raise ServiceUnavailable(
                "The catalog service is unavailable; try again shortly"
            ) from exc
        return Product(product_id, found.sku, found.name, found.price, found.currency)

    async def aclose(self) -> None:
        await self.client.aclose()
