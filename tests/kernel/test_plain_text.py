"""Issue 10, finding 6, in queries: a NUL in `search` was a 500 on PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Account, assert_problem


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/users", {"search": "a\x00b"}),
        ("/v1/products", {"search": "shoe\x1b"}),
        ("/v1/categories", {"page": "1\x00"}),
        ("/v1/orders", {"status\x00": "pending"}),
        ("/v1/users/%00", {}),
    ],
)
async def test_control_characters_in_a_path_or_query_are_400_on_either_database(
    client: httpx.AsyncClient, admin: Account, path: str, params: dict[str, str]
) -> None:
    assert_problem(await client.get(path, params=params, headers=admin.headers), 400)


async def test_tabs_and_unicode_in_a_search_are_fine(
    client: httpx.AsyncClient, admin: Account
) -> None:
    for search in ("café\tcrème", "日本", "a+b c"):
        answer = await client.get("/v1/users", params={"search": search}, headers=admin.headers)
        assert answer.status_code == 200, answer.text
