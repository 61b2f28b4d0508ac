"""The catalog API through the embedded gateway, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Account, assert_problem
from tests.services.catalog.conftest import make_category, make_product

PRODUCT_FIELDS = {
    "id",
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "media",
    "categoryId",
    "attributes",
    "images",
    "available",
    "version",
    "createdAt",
    "updatedAt",
}


async def test_product_lifecycle_with_etag(client: httpx.AsyncClient, admin: Account) -> None:
    shoes = await make_category(client, admin, "Shoes")
    created = await client.post(
        "/v1/products",
        json={
            "sku": "trail-42",
            "name": "Trail running shoe",
            "description": "Grippy outsole for wet rock.",
            "price": 8999,
            "currency": "EUR",
            "categoryId": shoes["id"],
            "attributes": {"size": 42, "colour": "red"},
            "images": ["https://img.example.com/trail-42.jpg"],
            "stock": 7,
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert set(product) == PRODUCT_FIELDS
    assert product["sku"] == "TRAIL-42"
    assert product["currency"] == "EUR"
    assert product["available"] == 7
    assert created.headers["location"] == f"/v1/products/{product['id']}"

    read = await client.get(f"/v1/products/{product['id']}")
    assert read.status_code == 200
    assert read.json() == product
    tag = read.headers["etag"]
    assert tag == '"1"'

    updated = await client.put(
        f"/v1/products/{product['id']}",
        json={"price": 7999},
        headers={**admin.headers, "If-Match": tag},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["price"] == 7999
    assert updated.headers["etag"] == '"2"'

    stale = await client.put(
        f"/v1/products/{product['id']}",
        json={"price": 100},
        headers={**admin.headers, "If-Match": tag},
    )
    assert "ETag" in assert_problem(stale, 412)["detail"]
    weak = await client.put(
        f"/v1/products/{product['id']}",
        json={"price": 100},
        headers={**admin.headers, "If-Match": 'W/"2"'},
    )
    assert_problem(weak, 412)
    anything = await client.put(
        f"/v1/products/{product['id']}",
        json={"name": "Trail shoe"},
        headers={**admin.headers, "If-Match": "*"},
    )
    assert anything.status_code == 200
    assert (await client.get(f"/v1/products/{product['id']}")).json()["price"] == 7999

    deleted = await client.delete(f"/v1/products/{product['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/v1/products/{product['id']}"), 404)
    assert_problem(await client.delete(f"/v1/products/{product['id']}", headers=admin.headers), 404)


async def test_an_update_without_changes_keeps_the_version(
    client: httpx.AsyncClient, admin: Account
) -> None:
    product = await make_product(client, admin, price=500)
    same = await client.put(
        f"/v1/products/{product['id']}", json={"price": 500}, headers=admin.headers
    )
    assert same.json()["version"] == 1


async def test_writes_need_an_admin_and_reads_are_public(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    body = {"sku": "A1", "name": "A", "price": 1, "currency": "USD"}
    assert_problem(await client.post("/v1/products", json=body), 401)
    assert_problem(await client.post("/v1/products", json=body, headers=alice.headers), 403)
    assert_problem(await client.post("/v1/categories", json={"name": "X"}), 401)
    product = await make_product(client, admin)
    assert_problem(
        await client.put(f"/v1/products/{product['id']}", json={"price": 1}, headers=alice.headers),
        403,
    )
    assert_problem(
        await client.put(f"/v1/products/{product['id']}/stock", json={"available": 1}), 401
    )
    assert_problem(await client.delete(f"/v1/products/{product['id']}", headers=alice.headers), 403)
    assert (await client.get(f"/v1/products/{product['id']}")).status_code == 200
    assert (await client.get("/v1/products")).status_code == 200
    assert (await client.get("/v1/categories")).status_code == 200


async def test_sku_and_slug_are_unique(client: httpx.AsyncClient, admin: Account) -> None:
    await make_product(client, admin, sku="DUP-1")
    again = await client.post(
        "/v1/products",
        json={"sku": "dup-1", "name": "B", "price": 1, "currency": "EUR"},
        headers=admin.headers,
    )
    assert "SKU" in assert_problem(again, 409)["detail"]
    other = await make_product(client, admin, sku="DUP-2")
    clash = await client.put(
        f"/v1/products/{other['id']}", json={"sku": "DUP-1"}, headers=admin.headers
    )
    assert_problem(clash, 409)

    first = await make_category(client, admin, "Home & Garden")
    assert first["slug"] == "home-garden"
    same = await client.post(
        "/v1/categories", json={"name": "Home garden", "slug": "home-garden"}, headers=admin.headers
    )
    assert_problem(same, 409)


async def test_categories_form_a_tree(client: httpx.AsyncClient, admin: Account) -> None:
    root = await make_category(client, admin, "Sports")
    child = await make_category(client, admin, "Running", parentId=root["id"])
    grandchild = await make_category(client, admin, "Trail", parentId=child["id"])
    assert child["parentId"] == root["id"]

    listed = await client.get("/v1/categories", params={"limit": 2})
    body = listed.json()
    assert body["total"] == 3 and body["limit"] == 2 and len(body["categories"]) == 2

    cycle = await client.put(
        f"/v1/categories/{root['id']}", json={"parentId": grandchild["id"]}, headers=admin.headers
    )
    assert_problem(cycle, 400)
    unknown_parent = await client.post(
        "/v1/categories",
        json={"name": "Orphan", "parentId": str(uuid.uuid4())},
        headers=admin.headers,
    )
    assert_problem(unknown_parent, 400)
    renamed = await client.put(
        f"/v1/categories/{child['id']}", json={"name": "Jogging"}, headers=admin.headers
    )
    assert renamed.json()["name"] == "Jogging"
    assert (await client.get(f"/v1/categories/{child['id']}")).json()["name"] == "Jogging"
    assert_problem(await client.get(f"/v1/categories/{uuid.uuid4()}"), 404)


async def test_a_category_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, admin: Account
) -> None:
    root = await make_category(client, admin, "Kitchen")
    child = await make_category(client, admin, "Knives", parentId=root["id"])
    product = await make_product(client, admin, categoryId=child["id"])
    assert_problem(await client.delete(f"/v1/categories/{root['id']}", headers=admin.headers), 409)
    assert_problem(await client.delete(f"/v1/categories/{child['id']}", headers=admin.headers), 409)
    await client.delete(f"/v1/products/{product['id']}", headers=admin.headers)
    assert (
        await client.delete(f"/v1/categories/{child['id']}", headers=admin.headers)
    ).status_code == 204
    assert (
        await client.delete(f"/v1/categories/{root['id']}", headers=admin.headers)
    ).status_code == 204


async def test_stock_can_be_read_and_set(client: httpx.AsyncClient, admin: Account) -> None:
    product = await make_product(client, admin, stock=3)
    stock = await client.get(f"/v1/products/{product['id']}/stock")
    assert stock.json() == {"productId": product["id"], "available": 3, "reserved": 0}
    changed = await client.put(
        f"/v1/products/{product['id']}/stock", json={"available": 12}, headers=admin.headers
    )
    assert changed.json()["available"] == 12
    assert (await client.get(f"/v1/products/{product['id']}")).json()["available"] == 12
    negative = await client.put(
        f"/v1/products/{product['id']}/stock", json={"available": -1}, headers=admin.headers
    )
    assert_problem(negative, 400)
    missing = await client.put(
        f"/v1/products/{uuid.uuid4()}/stock", json={"available": 1}, headers=admin.headers
    )
    assert_problem(missing, 404)
    assert_problem(await client.get(f"/v1/products/{uuid.uuid4()}/stock"), 404)


@pytest.mark.parametrize(
    "change",
    [
        {"price": -1},
        {"price": 10**15},
        {"price": 12.5},
        {"price": "12"},
        {"currency": "EUD"},
        {"currency": "euro"},
        {"stock": -5},
        {"stock": 10**12},
        {"categoryId": "not-a-uuid"},
        {"sku": ""},
        {"sku": "has space"},
        {"name": ""},
        {"images": ["not a url"]},
        {"attributes": "flat"},
        {"unexpected": 1},
    ],
)
async def test_bad_product_input_is_400(
    client: httpx.AsyncClient, admin: Account, change: dict[str, object]
) -> None:
    body = {"sku": "OK-1", "name": "Fine", "price": 100, "currency": "EUR", **change}
    assert_problem(await client.post("/v1/products", json=body, headers=admin.headers), 400)


async def test_unknown_category_is_400(client: httpx.AsyncClient, admin: Account) -> None:
    body = {"sku": "OK-1", "name": "Fine", "price": 100, "currency": "EUR"}
    response = await client.post(
        "/v1/products", json={**body, "categoryId": str(uuid.uuid4())}, headers=admin.headers
    )
    assert "categoryId" in assert_problem(response, 400)["detail"]
    product = await make_product(client, admin)
    moved = await client.put(
        f"/v1/products/{product['id']}",
        json={"categoryId": str(uuid.uuid4())},
        headers=admin.headers,
    )
    assert_problem(moved, 400)


@pytest.mark.parametrize(
    "params",
    [
        {"minPrice": "abc"},
        {"maxPrice": "-1"},
        {"minPrice": "500", "maxPrice": "100"},
        {"limit": "100000"},
        {"limit": "0"},
        {"page": "0"},
        {"sort": "cheapest"},
        {"inStock": "maybe"},
        {"categoryId": "42"},
        {"currency": "XXX1"},
        {"search": "x" * 201},
    ],
)
async def test_malformed_filters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_problem(await client.get("/v1/products", params=params), 400)


async def test_an_unknown_category_filter_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products", params={"categoryId": str(uuid.uuid4())})
    assert_problem(response, 400)


async def test_openapi_documents_the_catalog(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/v1/products" in schema["paths"]
    assert "/v1/products/{productId}/stock" in schema["paths"]
    assert "/v1/categories/{categoryId}" in schema["paths"]
    put = schema["paths"]["/v1/products/{productId}"]["put"]
    assert "412" in put["responses"]


async def test_staff_list_low_stock_fewest_first(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    made = {
        stock: (await make_product(client, admin, name=f"Low {stock}", stock=stock))["id"]
        for stock in (0, 7, 2, 30)
    }
    answer = await client.get(
        "/v1/products",
        params={"stockBelow": 10, "sort": "available", "limit": 100},
        headers=admin.headers,
    )
    assert answer.status_code == 200, answer.text
    listed = [(p["id"], p["available"]) for p in answer.json()["products"]]
    assert listed == [(made[0], 0), (made[2], 2), (made[7], 7)]
    assert answer.json()["total"] == 3
    # The stock levels of the whole catalog are the shop's business.
    assert_problem(await client.get("/v1/products", params={"stockBelow": 10}), 401)
    customer = await client.get("/v1/products", params={"stockBelow": 10}, headers=alice.headers)
    assert_problem(customer, 403)
    for bad in ("0", "-1", "many"):
        refused = await client.get(
            "/v1/products", params={"stockBelow": bad}, headers=admin.headers
        )
        assert_problem(refused, 400)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "attributes",
    [
        _nested(260),  # under 2 KB: passed the size check, broke every later read
        _nested(6),
        {"list": [[[[[[1]]]]]]},
        {f"k{n}": list(range(20)) for n in range(30)},  # 630 values and keys
        {"bad\u0000key": 1},
        {"colour": "re\u0007d"},
    ],
)
async def test_hostile_attributes_are_400_and_commit_nothing(
    client: httpx.AsyncClient, admin: Account, attributes: dict[str, Any]
) -> None:
    """Issue 10, findings 2 and 6: bounded free-form JSON, no control characters."""
    created = await client.post(
        "/v1/products",
        headers=admin.headers,
        json={
            "sku": "DEEP-1",
            "name": "Deep",
            "price": 100,
            "currency": "EUR",
            "attributes": attributes,
        },
    )
    assert_problem(created, 400)
    listed = await client.get("/v1/products")
    assert listed.status_code == 200
    assert listed.json()["total"] == 0
    # Accepted at the bound, and read back intact.
    fine = await client.post(
        "/v1/products",
        headers=admin.headers,
        json={
            "sku": "DEEP-2",
            "name": "Fine",
            "price": 100,
            "currency": "EUR",
            "attributes": _nested(5),
        },
    )
    assert fine.status_code == 201, fine.text
    read = await client.get(f"/v1/products/{fine.json()['id']}")
    assert read.json()["attributes"] == _nested(5)


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Nul\u0000"},
        {"description": "line\u0000"},
        {"currency": "eur"},
        {"currency": "XXY"},
        {"price": "100"},
        {"price": 100.5},
        {"price": True},
    ],
)
async def test_loose_or_hostile_product_fields_are_400(
    client: httpx.AsyncClient, admin: Account, change: dict[str, Any]
) -> None:
    body = {"sku": "LOOSE-1", "name": "Loose", "price": 100, "currency": "EUR", **change}
    assert_problem(await client.post("/v1/products", headers=admin.headers, json=body), 400)
    assert (await client.get("/v1/products")).json()["total"] == 0


async def test_a_description_keeps_its_lines_and_tabs(
    client: httpx.AsyncClient, admin: Account
) -> None:
    text = "First line\r\n\tindented\nlast"
    created = await client.post(
        "/v1/products",
        headers=admin.headers,
        json={
            "sku": "LINES-1",
            "name": "Lines",
            "price": 1,
            "currency": "EUR",
            "description": text,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["description"] == text
