"""The users service's OpenAPI honours every path, parameter and response of the seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from panthera.app import create_platform
from panthera.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
# The client's document lives beside the repository; docs/seed holds a copy for
# checkouts without it, and the test prefers the original when it is there.
SEED_CANDIDATES = (
    ROOT.parent / "shared" / "seed" / "users-openapi.fragment.yaml",
    ROOT / "docs" / "seed" / "users-openapi.fragment.yaml",
)


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    path = next(p for p in SEED_CANDIDATES if p.exists())
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("contract"))
    document: dict[str, Any] = create_platform(settings).hosts["users"].app.openapi()
    return document


def _seed_operations(seed: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in seed["paths"].items()
        for method, operation in item.items()
    ]


def test_the_copy_of_the_seed_matches_the_original() -> None:
    original, copy = SEED_CANDIDATES
    if not original.exists():
        pytest.skip("the client's shared/ folder is not beside this checkout")
    assert copy.read_text() == original.read_text()


def test_every_seed_operation_exists_under_v1(seed: dict[str, Any], ours: dict[str, Any]) -> None:
    for path, method, _ in _seed_operations(seed):
        assert method in ours["paths"].get(f"/v1{path}", {}), f"{method.upper()} /v1{path}"


def test_every_seed_parameter_exists_with_its_default(
    seed: dict[str, Any], ours: dict[str, Any]
) -> None:
    for path, method, operation in _seed_operations(seed):
        mine = {
            (p["in"], p["name"]): p
            for p in ours["paths"][f"/v1{path}"][method].get("parameters", [])
        }
        for parameter in operation.get("parameters", []):
            key = (parameter["in"], parameter["name"])
            assert key in mine, f"{method.upper()} {path}: parameter {key}"
            expected = parameter["schema"]
            actual = mine[key]["schema"]
            assert actual.get("type") == expected["type"], key
            if "format" in expected:
                assert actual.get("format") == expected["format"], key
            if "default" in expected:
                assert actual.get("default") == expected["default"], key
            assert mine[key].get("required", False) == parameter.get("required", False), key


def test_every_seed_response_code_exists(seed: dict[str, Any], ours: dict[str, Any]) -> None:
    for path, method, operation in _seed_operations(seed):
        mine = ours["paths"][f"/v1{path}"][method]["responses"]
        for status in operation["responses"]:
            assert str(status) in mine, f"{method.upper()} {path}: {status}"


def test_secured_operations_declare_bearer_auth(seed: dict[str, Any], ours: dict[str, Any]) -> None:
    for path, method, operation in _seed_operations(seed):
        if operation.get("security"):
            assert {"BearerAuth": []} in ours["paths"][f"/v1{path}"][method].get("security", [])


def test_request_bodies_match(seed: dict[str, Any], ours: dict[str, Any]) -> None:
    schemas = ours["components"]["schemas"]
    for path, method, operation in _seed_operations(seed):
        if "requestBody" not in operation:
            continue
        expected = operation["requestBody"]["content"]["application/json"]["schema"]
        body = ours["paths"][f"/v1{path}"][method]["requestBody"]
        assert body.get("required") is True
        actual = body["content"]["application/json"]["schema"]
        if "$ref" in expected:
            assert actual["$ref"] == expected["$ref"]
        else:
            resolved = schemas[actual["$ref"].rsplit("/", 1)[1]]
            assert set(expected["required"]) <= set(resolved["required"])
            assert set(expected["properties"]) <= set(resolved["properties"])


def test_referenced_components_are_defined(seed: dict[str, Any], ours: dict[str, Any]) -> None:
    components = ours["components"]
    for name in ("User", "UserCreateRequest", "UserUpdateRequest", "ErrorResponse"):
        assert name in components["schemas"], name
    for name in ("BadRequestError", "UnauthorizedError", "ForbiddenError", "NotFoundError"):
        response = components["responses"][name]
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert components["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /v1/auth/login.",
    }
    referenced = {ref.rsplit("/", 1)[1] for ref in _refs(seed)}
    defined = set(components["schemas"]) | set(components["responses"])
    assert referenced <= defined


def test_user_schema_has_the_example_fields(ours: dict[str, Any]) -> None:
    user = ours["components"]["schemas"]["User"]["properties"]
    for field in ("id", "username", "email", "firstName", "lastName", "createdAt", "updatedAt"):
        assert field in user, field
    assert "password" not in user and "passwordHash" not in user
    create = ours["components"]["schemas"]["UserCreateRequest"]
    assert set(create["required"]) == {"username", "email", "password"}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
