"""Product search and listing through the API, on SQLite FTS5 and PostgreSQL full-text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Account, assert_problem
from tests.services.catalog.conftest import make_category, make_product


@pytest.fixture
async def shop(client: httpx.AsyncClient, admin: Account) -> dict[str, Any]:
    """A small shop: a category tree and products with words worth searching."""
    footwear = await make_category(client, admin, "Footwear")
    running = await make_category(client, admin, "Running", parentId=footwear["id"])
    kitchen = await make_category(client, admin, "Kitchen")
    products = {
        "trail": await make_product(
            client,
            admin,
            "Trail running shoe",
            sku="SHOE-TRAIL",
            description="A light shoe with a grippy sole.",
            price=8999,
            categoryId=running["id"],
            stock=4,
        ),
        "boot": await make_product(
            client,
            admin,
            "Leather hiking boot",
            sku="BOOT-HIKE",
            description="Waterproof boots for long walks; pairs well with wool socks.",
            price=14999,
            categoryId=footwear["id"],
            stock=0,
        ),
        "sandal": await make_product(
            client,
            admin,
            "Beach sandal",
            sku="SAN-0000001",
            description="Not a shoe, but close: for hot sand.",
            price=1999,
            categoryId=footwear["id"],
            stock=10,
        ),
        "knife": await make_product(
            client,
            admin,
            "Chef's knife",
            sku="KNIFE-20",
            description="Forged steel, 20 cm blade.",
            price=6999,
            categoryId=kitchen["id"],
            stock=2,
        ),
        "pan": await make_product(
            client,
            admin,
            "Cast iron pan",
            sku="PAN-28",
            description="Seasoned skillet that goes from stove to oven.",
            price=4999,
            categoryId=kitchen["id"],
            stock=1,
            currency="USD",
        ),
    }
    return {
        "categories": {"footwear": footwear, "running": running, "kitchen": kitchen},
        "products": products,
    }


async def names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/v1/products", params=params)
    assert response.status_code == 200, response.text
    return [p["name"] for p in response.json()["products"]]


async def test_word_forms_match(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    found = await names(client, search="shoes")
    assert "Trail running shoe" in found
    assert "Beach sandal" in found  # "shoe" in its description
    assert "Leather hiking boot" in await names(client, search="boot")
    assert "Leather hiking boot" in await names(client, search="walking")
    assert "Trail running shoe" in await names(client, search="run")


async def test_relevance_puts_the_name_before_the_description(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    found = await names(client, search="shoe")
    assert found[0] == "Trail running shoe"
    assert found.index("Trail running shoe") < found.index("Beach sandal")


async def test_sku_and_category_names_are_searched(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    assert await names(client, search="KNIFE-20") == ["Chef's knife"]
    assert await names(client, search="SAN-0000001") == ["Beach sandal"]
    assert set(await names(client, search="kitchen")) == {"Chef's knife", "Cast iron pan"}


async def test_every_word_must_match(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    assert await names(client, search="steel blade") == ["Chef's knife"]
    assert await names(client, search="steel sandal") == []
    # Exact words never compete with look-alikes: no "sandal" among the knives.
    assert await names(client, search="blade") == ["Chef's knife"]


HOSTILE_TEXTS = [
    '"',
    "'",
    'shoe"',
    "AND OR NOT",
    "shoe OR knife",
    "NEAR(shoe knife)",
    "* ^ - + : ( ) { } [ ]",
    "name:shoe",
    "shoe*",
    "'; DROP TABLE products; --",
    "!!! & | <-> :*",
    "\\",
    "%_%",
    "ünïcödé ☃ 鞋",
    "   ",
]


async def test_operators_and_quotes_never_break_search(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    for text in HOSTILE_TEXTS:
        response = await client.get("/v1/products", params={"search": text})
        assert response.status_code == 200, (text, response.text)
        body = response.json()
        assert body["total"] == len(body["products"])
        if text in {'shoe"', "shoe*"}:  # the only word in these is "shoe"
            assert "Trail running shoe" in [p["name"] for p in body["products"]]
    assert len(await names(client)) == 5  # the catalog is intact


async def test_typos_in_names_are_tolerated_on_postgresql_only(
    client: httpx.AsyncClient, shop: dict[str, Any], db_backend: str
) -> None:
    found = await names(client, search="sandl")
    if db_backend == "postgresql":
        assert found[:1] == ["Beach sandal"]
    else:  # SQLite's FTS5 has no trigram index: a typo finds nothing, and says so plainly
        assert found == []


async def test_category_filter_includes_sub_categories(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    footwear = shop["categories"]["footwear"]["id"]
    running = shop["categories"]["running"]["id"]
    assert set(await names(client, categoryId=footwear)) == {
        "Trail running shoe",
        "Leather hiking boot",
        "Beach sandal",
    }
    assert await names(client, categoryId=running) == ["Trail running shoe"]
    assert await names(client, categoryId=running, search="sandal") == []


async def test_price_stock_and_currency_filters(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    assert set(await names(client, minPrice=5000, maxPrice=9000)) == {
        "Trail running shoe",
        "Chef's knife",
    }
    assert "Leather hiking boot" not in await names(client, inStock="true")
    assert await names(client, inStock="false") == ["Leather hiking boot"]
    assert await names(client, currency="USD") == ["Cast iron pan"]
    assert await names(client, minPrice=10, maxPrice=10) == []


async def test_sort_orders(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    prices = [
        p["price"]
        for p in (await client.get("/v1/products", params={"sort": "price"})).json()["products"]
    ]
    assert prices == sorted(prices)
    by_price_desc = await names(client, sort="-price")
    assert by_price_desc[0] == "Leather hiking boot"
    assert await names(client, sort="name") == sorted(await names(client, sort="name"))
    newest = await names(client, sort="newest")
    assert newest[0] == "Cast iron pan" and newest[-1] == "Trail running shoe"
    assert await names(client) == newest
    assert await names(client, sort="relevance") == newest  # no search: newest first
    assert (await names(client, search="shoe", sort="price"))[0] == "Beach sandal"


async def test_pagination(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        response = await client.get(
            "/v1/products", params={"limit": 2, "page": page, "sort": "name"}
        )
        body = response.json()
        assert body["total"] == 5 and body["page"] == page and body["limit"] == 2
        seen += [p["name"] for p in body["products"]]
    assert seen == sorted(seen) and len(set(seen)) == 5
    beyond = (await client.get("/v1/products", params={"page": 9})).json()
    assert beyond["total"] == 5 and beyond["products"] == []


async def test_edits_reach_the_search_index(
    client: httpx.AsyncClient, admin: Account, shop: dict[str, Any]
) -> None:
    knife = shop["products"]["knife"]
    await client.put(
        f"/v1/products/{knife['id']}", json={"name": "Santoku blade"}, headers=admin.headers
    )
    assert await names(client, search="santoku") == ["Santoku blade"]
    assert await names(client, search="chef") == []
    kitchen = shop["categories"]["kitchen"]
    await client.put(
        f"/v1/categories/{kitchen['id']}", json={"name": "Cookware"}, headers=admin.headers
    )
    assert set(await names(client, search="cookware")) == {"Santoku blade", "Cast iron pan"}
    assert await names(client, search="kitchen") == []
    await client.delete(f"/v1/products/{knife['id']}", headers=admin.headers)
    assert await names(client, search="santoku") == []


async def test_search_counts_match_pages(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    body = (await client.get("/v1/products", params={"search": "shoe", "limit": 1})).json()
    assert body["total"] >= 2 and len(body["products"]) == 1


async def test_bad_filters_are_reported_by_field(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/products", params={"minPrice": "abc"}), 400)
    assert body["errors"][0]["field"] == "query.minPrice"
