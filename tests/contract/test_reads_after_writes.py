"""Issue 10, "nothing that a write accepts may break a later read", as a property.

Bodies generated from the published schema (Schemathesis's strategies, Hypothesis
underneath, a fixed seed) are sent to every write; whenever one is accepted, every
read of the same resource must answer 2xx: the item, the list, a search for it.
Against `panthera up` on SQLite and on PostgreSQL, since what one database stores
the other may refuse (NUL in text), and what the writer stores a reader must serialise
(a JSON value nested 260 deep once broke every read of the catalog).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.case import Case as AnyCase

from panthera.testing.shop import Shopper, platform
from tests.conftest import POSTGRES_URL, drop_schemas
from tests.contract.test_schemathesis import RAISED_LIMITS

pytestmark = pytest.mark.e2e

WRITES = (
    "POST /v1/users",
    "POST /v1/categories",
    "POST /v1/products",
    "PUT /v1/products/{productId}",
    "PUT /v1/users/{userId}",
    "POST /v1/orders",
)

Case = AnyCase[Any]

EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same bodies every run
    suppress_health_check=list(HealthCheck),
    database=None,
)


class Api:
    """The running platform, as an admin and as a customer."""

    def __init__(self, base: str) -> None:
        self.base = base
        shopper = Shopper(base)
        self.http = shopper.http
        self.admin = shopper.admin()
        self.customer = shopper.sign_up(f"buyer{uuid.uuid4().hex[:8]}")
        self.schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        self.writes: dict[str, int] = {}

    def cases(self, method: str, path: str, **fixed: Any) -> st.SearchStrategy[Case]:
        return self.schema[path][method].as_strategy(**fixed)

    def send(self, case: Case, auth: dict[str, str] | None, **extra_headers: str) -> httpx.Response:
        """The generated request, with our token (if any) and without `If-Match` (a
        random one would only be refused); counts what was accepted."""
        headers = {
            k: v
            for k, v in (case.headers or {}).items()
            if k.lower() not in ("authorization", "if-match")
        }
        headers |= extra_headers
        return self.http.request(
            case.method,
            case.formatted_path,
            params=case.query,
            json=case.body if case.body is not None and not _unset(case.body) else None,
            headers={**headers, **(auth or {})},
        )

    def accepted(self, case: Case, answer: httpx.Response) -> dict[str, Any] | None:
        """The created or changed resource, if the write was accepted; never a 5xx."""
        assert answer.status_code < 500, answer.text[:500]
        if not 200 <= answer.status_code < 300:
            return None
        self.writes[case.operation.label] = self.writes.get(case.operation.label, 0) + 1
        body: dict[str, Any] = answer.json()
        return body

    def reads_answer(self, paths: list[tuple[str, dict[str, Any]]], auth: dict[str, str]) -> None:
        for path, params in paths:
            answer = self.http.get(path, params=params, headers=auth)
            assert 200 <= answer.status_code < 300, (path, params, answer.text[:500])


def _unset(value: object) -> bool:
    return type(value).__name__ == "NotSet"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def api(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    env = dict(RAISED_LIMITS)
    prefix = f"p{uuid.uuid4().hex[:8]}_"
    if request.param == "postgresql":
        env |= {"PANTHERA_DATABASE_URL": POSTGRES_URL, "PANTHERA_SCHEMA_PREFIX": prefix}
    try:
        with platform(tmp_path, "embedded", env=env) as running:
            yield Api(running.base)
    finally:
        if request.param == "postgresql":
            import asyncio

            asyncio.run(drop_schemas(prefix))


def test_every_accepted_write_leaves_its_reads_answering(api: Api) -> None:
    @EXAMPLES
    @given(case=api.cases("POST", "/v1/users"))
    def sign_up(case: Case) -> None:
        if user := api.accepted(case, api.send(case, None)):
            api.reads_answer(
                [(f"/v1/users/{user['id']}", {}), ("/v1/users", {"search": user["username"]})],
                api.admin,
            )

    @EXAMPLES
    @given(case=api.cases("POST", "/v1/categories"))
    def new_category(case: Case) -> None:
        if category := api.accepted(case, api.send(case, api.admin)):
            api.reads_answer(
                [(f"/v1/categories/{category['id']}", {}), ("/v1/categories", {})], api.admin
            )

    def product_reads(product: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        path = f"/v1/products/{product['id']}"
        return [
            (path, {}),
            (f"{path}/stock", {}),
            ("/v1/products", {}),
            ("/v1/products", {"search": product["name"][:100]}),
            ("/v1/products", {"sort": "name"}),
        ]

    @EXAMPLES
    @given(case=api.cases("POST", "/v1/products"))
    def new_product(case: Case) -> None:
        if product := api.accepted(case, api.send(case, api.admin)):
            api.reads_answer(product_reads(product), {})
            api.reads_answer(product_reads(product), api.admin)

    target = api.http.post(
        "/v1/products",
        headers=api.admin,
        json={"sku": "PROP-1", "name": "Target", "price": 100, "currency": "EUR", "stock": 5},
    ).json()

    @EXAMPLES
    @given(
        case=api.cases(
            "PUT", "/v1/products/{productId}", path_parameters={"productId": target["id"]}
        )
    )
    def changed_product(case: Case) -> None:
        if product := api.accepted(case, api.send(case, api.admin)):
            api.reads_answer(product_reads(product), {})

    me = api.http.get("/v1/users/me", headers=api.customer).json()

    @EXAMPLES
    @given(case=api.cases("PUT", "/v1/users/{userId}", path_parameters={"userId": me["id"]}))
    def changed_profile(case: Case) -> None:
        if isinstance(case.body, dict):
            case.body.pop("role", None)  # a customer may not, and it would end the session
        if api.accepted(case, api.send(case, api.customer)):
            api.reads_answer([("/v1/users/me", {}), (f"/v1/users/{me['id']}", {})], api.customer)

    @EXAMPLES
    @given(case=api.cases("POST", "/v1/orders"))
    def placed(case: Case) -> None:
        if isinstance(case.body, dict):
            case.body["items"] = [{"productId": target["id"], "quantity": 1}]
        key = uuid.uuid4().hex
        if order := api.accepted(case, api.send(case, api.customer, **{"Idempotency-Key": key})):
            api.reads_answer([(f"/v1/orders/{order['id']}", {}), ("/v1/orders", {})], api.customer)

    properties: list[Callable[[], None]] = [
        sign_up,
        new_category,
        new_product,
        changed_product,
        changed_profile,
        placed,
    ]
    for check in properties:
        check()
    # Each write was accepted often enough for the property to mean something.
    assert all(api.writes.get(label, 0) >= 3 for label in WRITES), api.writes
