"""The DynamoDB table: `panthera notifications create-table`, and a start without the table,
against DynamoDB Local."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiobotocore.session import get_session
from typer.testing import CliRunner

from panthera.app import create_platform
from panthera.cli import cli
from panthera.kernel.settings import Settings
from tests.services.notifications.dynamodb_local import dynamodb_environment


async def indexes(endpoint: str, table: str) -> dict[str, list[str]]:
    async with get_session().create_client("dynamodb", endpoint_url=endpoint) as client:
        described = await client.describe_table(TableName=table)
    return {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in described["Table"].get("GlobalSecondaryIndexes", [])
    }


@pytest.mark.integration
def test_create_table_creates_the_table_and_its_indexes_once(
    dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"notifications-{uuid.uuid4().hex[:12]}"
    for name, value in dynamodb_environment(dynamodb_endpoint, table).items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    first = runner.invoke(cli, ["notifications", "create-table"])
    assert first.exit_code == 0, first.output
    assert f"table {table} created" in first.output
    again = runner.invoke(cli, ["notifications", "create-table"])
    assert again.exit_code == 0, again.output
    assert f"table {table} already exists" in again.output
    assert asyncio.run(indexes(dynamodb_endpoint, table)) == {
        "by-user": ["user_id", "created"],
        "by-time": ["time_shard", "created"],
        "due": ["due_shard", "next_attempt_at"],
    }
    other = runner.invoke(cli, ["notifications", "create-table", "--table", f"{table}-b"])
    assert other.exit_code == 0, other.output
    assert f"table {table}-b created" in other.output


@pytest.mark.integration
def test_create_table_says_why_it_cannot(
    dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in dynamodb_environment(dynamodb_endpoint, "notifications").items():
        monkeypatch.setenv(name, value)
    # DynamoDB Local refuses a key id that is not letters and digits, as AWS refuses a bad key.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-a-key")
    result = CliRunner().invoke(cli, ["notifications", "create-table"])
    assert result.exit_code == 1
    assert "error: table notifications:" in result.output
    assert "UnrecognizedClientException" in result.output
    assert "Traceback" not in result.output


def test_create_table_refuses_a_bad_table_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTHERA_NOTIFICATIONS__DYNAMODB_TABLE", "no spaces allowed")
    result = CliRunner().invoke(cli, ["notifications", "create-table"])
    assert result.exit_code == 2
    assert "error: PANTHERA_NOTIFICATIONS__*: dynamodb_table: String should match" in result.output
    assert "Traceback" not in result.output


@pytest.mark.integration
async def test_a_missing_table_stops_the_start_saying_what_to_do(
    dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in dynamodb_environment(dynamodb_endpoint, "nowhere-to-be-found").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PANTHERA_NOTIFICATIONS__DYNAMODB_CREATE_TABLE", "false")
    settings = Settings(data_dir=tmp_path / "data", startup_wait_seconds=0.5)
    alone = create_platform(settings, services=["notifications"])
    with pytest.raises(LookupError, match="panthera notifications create-table"):
        async with alone.running():
            pass
