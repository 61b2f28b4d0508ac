"""Search and listing totals stay exact and pages stay consistent, whichever path counts.

The catalog counts matches apart from ordering the page (on the tables the
filters need only), so every combination of search, product filters and
stock filters is checked against what walking all its pages shows.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.services.catalog.conftest import make_category, make_product

PRODUCTS = 24


@pytest.fixture
async def aisle(client: httpx.AsyncClient, admin: Account) -> dict[str, Any]:
    """Two categories, two dozen products: every third out of stock, prices spread out."""
    outdoor = await make_category(client, admin, "Outdoor")
    tents = await make_category(client, admin, "Tents", parentId=outdoor["id"])
    lamps = await make_category(client, admin, "Lamps")
    made: list[dict[str, Any]] = []
    for n in range(PRODUCTS):
        tent = n % 2 == 0
        made.append(
            await make_product(
                client,
                admin,
                f"{'Dome tent' if tent else 'Brass lamp'} {n:02d}",
                sku=f"{'TNT' if tent else 'LMP'}-{n:04d}",
                description=(
                    "Sleeps two, pitches in minutes." if tent else "Warm light for reading tents."
                ),
                price=1000 + 250 * n,
                categoryId=tents["id"] if tent else lamps["id"],
                stock=0 if n % 3 == 0 else n,
            )
        )
    return {"outdoor": outdoor, "tents": tents, "lamps": lamps, "products": made}


async def walk(
    client: httpx.AsyncClient, limit: int, headers: dict[str, str] | None = None, **params: Any
) -> tuple[int, list[str]]:
    """Every page of a listing: the total each page announced, and the SKUs in order."""
    totals: set[int] = set()
    skus: list[str] = []
    page = 1
    while True:
        response = await client.get(
            "/v1/products", params={**params, "page": page, "limit": limit}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        totals.add(body["total"])
        if not body["products"]:
            break
        skus += [p["sku"] for p in body["products"]]
        page += 1
    assert len(totals) == 1, f"the total changed between pages: {totals}"
    return totals.pop(), skus


def expected(aisle: dict[str, Any], **rules: Any) -> set[str]:
    """The SKUs a filter should find, computed from the products as created."""
    found: set[str] = set()
    for product in aisle["products"]:
        if "category" in rules and product["categoryId"] not in rules["category"]:
            continue
        if "min_price" in rules and product["price"] < rules["min_price"]:
            continue
        if "max_price" in rules and product["price"] > rules["max_price"]:
            continue
        if "in_stock" in rules and (product["available"] > 0) != rules["in_stock"]:
            continue
        if "below" in rules and product["available"] >= rules["below"]:
            continue
        if "prefix" in rules and not product["sku"].startswith(rules["prefix"]):
            continue
        found.add(product["sku"])
    return found


async def test_totals_are_exact_for_every_mix_of_filters(
    client: httpx.AsyncClient, admin: Account, aisle: dict[str, Any]
) -> None:
    tents, lamps, outdoor = aisle["tents"]["id"], aisle["lamps"]["id"], aisle["outdoor"]["id"]
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({}, expected(aisle)),
        ({"inStock": "true"}, expected(aisle, in_stock=True)),
        ({"inStock": "false"}, expected(aisle, in_stock=False)),
        ({"minPrice": 2000, "maxPrice": 5000}, expected(aisle, min_price=2000, max_price=5000)),
        ({"categoryId": outdoor}, expected(aisle, category={tents})),
        (
            {"categoryId": outdoor, "inStock": "true", "sort": "price"},
            expected(aisle, category={tents}, in_stock=True),
        ),
        ({"search": "tent"}, expected(aisle)),  # lamps light reading tents
        ({"search": "dome tents"}, expected(aisle, prefix="TNT")),
        ({"search": "lamp", "inStock": "true"}, expected(aisle, prefix="LMP", in_stock=True)),
        (
            {"search": "brass", "minPrice": 3000, "sort": "-price"},
            expected(aisle, prefix="LMP", min_price=3000),
        ),
        ({"search": "warm", "categoryId": lamps}, expected(aisle, category={lamps})),
        ({"search": "warm", "categoryId": tents}, set()),
        ({"search": "dome", "sort": "available"}, expected(aisle, prefix="TNT")),
    ]
    admin_only: list[tuple[dict[str, Any], set[str]]] = [
        ({"stockBelow": 10}, expected(aisle, below=10)),
        ({"stockBelow": 10, "search": "lamp"}, expected(aisle, below=10, prefix="LMP")),
    ]
    for params, want in cases:
        for limit in (5, 100):
            total, skus = await walk(client, limit, **params)
            assert total == len(want) == len(skus), (params, limit, total, skus)
            assert set(skus) == want, params
    for params, want in admin_only:
        total, skus = await walk(client, 4, headers=admin.headers, **params)
        assert total == len(want) == len(skus) and set(skus) == want, params


async def test_pages_of_any_size_give_the_same_order(
    client: httpx.AsyncClient, aisle: dict[str, Any]
) -> None:
    orders: list[dict[str, Any]] = [
        {"search": "tent"},
        {"search": "lamp", "sort": "price"},
        {"sort": "name"},
        {"sort": "-price", "inStock": "true"},
        {"sort": "available"},
        {},
    ]
    for params in orders:
        _, whole = await walk(client, 100, **params)
        _, paged = await walk(client, 3, **params)
        assert paged == whole, params
        assert len(set(whole)) == len(whole), params


async def test_relevance_and_sorts_keep_their_meaning_under_filters(
    client: httpx.AsyncClient, aisle: dict[str, Any]
) -> None:
    # Named "tent" beats mentioning tents in the description, filters or not.
    _, ranked = await walk(client, 100, search="tents")
    assert {sku[:3] for sku in ranked[:12]} == {"TNT"} and {sku[:3] for sku in ranked[12:]} == {
        "LMP"
    }
    _, in_stock = await walk(client, 100, search="tents", inStock="true")
    assert in_stock == [sku for sku in ranked if sku in expected(aisle, in_stock=True)]
    _, by_price = await walk(client, 100, search="lamp", sort="price")
    prices = {p["sku"]: p["price"] for p in aisle["products"]}
    assert [prices[sku] for sku in by_price] == sorted(prices[sku] for sku in by_price)
    _, newest = await walk(client, 100, categoryId=aisle["outdoor"]["id"])
    assert newest == [p["sku"] for p in reversed(aisle["products"]) if p["sku"].startswith("TNT")]


async def test_sku_and_hostile_input_with_filters(
    client: httpx.AsyncClient, aisle: dict[str, Any]
) -> None:
    assert await walk(client, 10, search="TNT-0004") == (1, ["TNT-0004"])
    assert await walk(client, 10, search="tnt 0004", inStock="true") == (1, ["TNT-0004"])
    assert await walk(client, 10, search="LMP-0003") == (1, ["LMP-0003"])
    for text in ('"dome" OR -lamp*', "dome AND NOT tent", "NEAR(dome lamp)", "dome:*"):
        total, skus = await walk(client, 7, search=text)
        assert total == len(skus), text
    total, skus = await walk(client, 3, search='"dome" (tent)', maxPrice=4000)
    want = expected(aisle, prefix="TNT", max_price=4000)
    assert (total, set(skus)) == (len(want), want) and len(skus) == len(want)


async def test_a_page_beyond_the_end_keeps_the_exact_total(
    client: httpx.AsyncClient, aisle: dict[str, Any]
) -> None:
    for params in ({"search": "tent"}, {"inStock": "true"}, {"categoryId": aisle["lamps"]["id"]}):
        response = await client.get("/v1/products", params={**params, "page": 50, "limit": 10})
        body = response.json()
        assert body["products"] == []
        assert body["total"] == (await walk(client, 100, **params))[0] > 0, params
