"""Issue 10, finding 8: the published document says what the platform does.

The full check is Schemathesis against running platforms (tests/contract); these
pin the specific mismatches it found, cheaply.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Account, assert_problem

OPERATIONS = ("get", "post", "put", "delete", "patch")


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/openapi.json")).json()
    return body


async def test_429_is_documented_wherever_the_edge_limits(client: httpx.AsyncClient) -> None:
    doc = await document(client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            exempt = operation.get("x-panthera-edge", {}).get("rateLimited") is False
            assert ("429" in operation["responses"]) != exempt, (method, path)


async def test_every_operation_with_input_documents_400(client: httpx.AsyncClient) -> None:
    doc = await document(client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in operation["responses"], (method, path)
            if operation.get("requestBody"):
                assert "413" in operation["responses"], (method, path)


async def test_routes_that_take_a_token_but_need_none_say_so(client: httpx.AsyncClient) -> None:
    doc = await document(client)
    sign_up = doc["paths"]["/v1/users"]["post"]
    assert {} in sign_up["security"]
    assert (await client.post("/v1/users", json={})).status_code == 400  # not 401
    assert {} in doc["paths"]["/v1/products"]["get"]["security"]
    assert {} not in doc["paths"]["/v1/users/me"]["get"]["security"]


async def test_undocumented_400s_found_by_the_probe_are_documented(
    client: httpx.AsyncClient, admin: Account
) -> None:
    doc = await document(client)
    assert_problem(await client.get("/v1/categories", params={"page": 0}), 400)
    assert "400" in doc["paths"]["/v1/categories"]["get"]["responses"]
    too_long = await client.get("/v1/users", params={"search": "x" * 101}, headers=admin.headers)
    assert_problem(too_long, 400)
    assert "400" in doc["paths"]["/v1/users"]["get"]["responses"]
    assert_problem(await client.get("/v1/products", params={"currency": "000"}), 400)
    currency = next(
        p for p in doc["paths"]["/v1/products"]["get"]["parameters"] if p["name"] == "currency"
    )
    assert "000" not in str(currency["schema"]) and "EUR" in str(currency["schema"])


async def test_a_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, admin: Account
) -> None:
    doc = await document(client)
    product = f"/v1/products/{uuid.uuid4()}"
    for path, template in [
        ("/v1/products", "/v1/products"),
        (product, "/v1/products/{productId}"),
        (f"{product}/stock", "/v1/products/{productId}/stock"),
        ("/v1/orders", "/v1/orders"),
        (f"/v1/categories/{uuid.uuid4()}", "/v1/categories/{categoryId}"),
    ]:
        answer = await client.options(path, headers=admin.headers)
        assert_problem(answer, 405)
        documented = {m.upper() for m in doc["paths"][template] if m in OPERATIONS}
        assert set(answer.headers["allow"].split(", ")) == documented, path


async def test_me_is_not_an_id(client: httpx.AsyncClient, alice: Account) -> None:
    for method in ("PUT", "DELETE"):
        answer = await client.request(method, "/v1/users/me", headers=alice.headers, json={})
        assert_problem(answer, 405)
        assert answer.headers["allow"] == "GET"
    assert (await client.get("/v1/users/me", headers=alice.headers)).status_code == 200
