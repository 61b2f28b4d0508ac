"""The DynamoDB table of the notification store: its keys, its indexes, its creation.

One item per notification, keyed by `id` (a notification id derives from the event
that caused it, so the event's idempotency is a conditional put on `id`). Three global
secondary indexes serve the other accesses (docs/notifications.md explains the costs):

- `by-user`: `user_id`, then `created` (creation time, then id): a customer's listing,
  newest first, is one query of one partition; it projects every attribute.
- `by-time`: `time_shard` (one of `TIME_SHARDS`, from the id), then `created`: the
  admin's listing across all users merges the shards' newest items; it projects only
  the keys and `channel`, so counting for the page's `total` reads small entries.
- `due`: `due_shard`, then `next_attempt_at`, which only queued items have: a sparse
  index holding exactly what the sender may claim, oldest due first.

The shards spread writes over several index partitions instead of one hot one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from panthera.services.notifications.settings import NotificationsSettings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

BY_USER, BY_TIME, DUE = "by-user", "by-time", "due"
TIME_SHARDS = 4
DUE_SHARDS = 4


def table_definition(name: str) -> dict[str, Any]:
    """`CreateTable` arguments: on-demand capacity, so nothing needs sizing up front."""
    strings = ("id", "user_id", "created", "time_shard", "due_shard", "next_attempt_at")
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in strings],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            _index(BY_USER, "user_id", "created", {"ProjectionType": "ALL"}),
            _index(
                BY_TIME,
                "time_shard",
                "created",
                {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["channel"]},
            ),
            _index(DUE, "due_shard", "next_attempt_at", {"ProjectionType": "KEYS_ONLY"}),
        ],
    }


def _index(name: str, partition: str, sort: str, projection: dict[str, Any]) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": sort, "KeyType": "RANGE"},
        ],
        "Projection": projection,
    }


@asynccontextmanager
async def dynamodb_client(settings: NotificationsSettings) -> AsyncIterator[DynamoDBClient]:
    """A client (and its connection pool) for the store's life. Credentials, and the region
    and endpoint when the settings leave them unset, come from the standard AWS variables."""
    config = AioConfig(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=15,
        max_pool_connections=50,
    )
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint_url,
        region_name=settings.dynamodb_region,
        config=config,
    ) as client:
        yield client


async def create_table(client: DynamoDBClient, name: str) -> bool:
    """Create the table and its indexes unless it exists; wait until it is active.

    Returns whether it was created here. Safe to run from several processes at once.
    """
    created = True
    try:
        await client.create_table(**table_definition(name))
    except client.exceptions.ResourceInUseException:
        created = False  # it exists already, or another process is creating it
    await client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    return created
