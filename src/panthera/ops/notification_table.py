"""The backup of the notification store's DynamoDB table: a scan to JSON lines, written back.

Listed after the SQL stores in `backup.stores_of`, so the scan starts after their
snapshot: a notification is put before its event's inbox row commits, so the scan
holds every notification of every event the backed-up inboxes have handled (and
perhaps a few more, whose events come again after a restore and are refused as
already there). Nothing is lost or doubled; a notification sent after the scan
comes back `queued` and is sent again, as with the SQL stores.

The scan is strongly consistent but not a snapshot. On AWS, the table's point-in-time
recovery is the snapshot; this copy lets one backup carry everything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from panthera.ops.manifest import StoreEntry, describe_file
from panthera.services.notifications.dynamodb_table import create_table, dynamodb_client
from panthera.services.notifications.settings import NotificationsSettings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import WriteRequestUnionTypeDef

_FILE = "dynamodb/notifications.jsonl"
_BATCH_WRITE_LIMIT = 25


class NotificationTable:
    name = "dynamodb-notifications"

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.table = settings.dynamodb_table

    async def dump(self, into: Path) -> StoreEntry:
        (into / "dynamodb").mkdir(parents=True, exist_ok=True)
        path = into / _FILE
        started = datetime.now(UTC)
        count = 0
        async with dynamodb_client(self.settings) as client:
            pages = client.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
            with path.open("w") as out:
                async for page in pages:
                    for item in page.get("Items", []):
                        out.write(json.dumps(item, separators=(",", ":")) + "\n")
                        count += 1
        path.chmod(0o600)
        facts = {"table": self.table, "items": count, "scanStartedAt": started.isoformat()}
        return StoreEntry(facts=facts, files=[describe_file(into, _FILE)])

    async def conflicts(self, entry: StoreEntry, root: Path) -> list[str]:
        async with dynamodb_client(self.settings) as client:
            if not await _exists(client, self.table):
                return []
            found = await client.scan(TableName=self.table, Select="COUNT", Limit=1)
        if found["Count"]:
            return [f"notifications in DynamoDB table {self.table}"]
        return []

    async def restore(self, entry: StoreEntry, root: Path) -> list[str]:
        (file,) = entry.files
        async with dynamodb_client(self.settings) as client:
            if not await _exists(client, self.table):
                await create_table(client, self.table)
            removed = await _empty(client, self.table)
            written = 0
            batch: list[WriteRequestUnionTypeDef] = []
            with (root / file.path).open() as lines:
                for line in lines:
                    batch.append({"PutRequest": {"Item": json.loads(line)}})
                    if len(batch) == _BATCH_WRITE_LIMIT:
                        written += await _write(client, self.table, batch)
                        batch = []
            written += await _write(client, self.table, batch)
        return [f"dynamodb table {self.table}: {written} notifications ({removed} removed)"]


async def _exists(client: DynamoDBClient, table: str) -> bool:
    try:
        await client.describe_table(TableName=table)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True


async def _empty(client: DynamoDBClient, table: str) -> int:
    """Delete every item (a restore replaces the content; the table and its settings stay)."""
    removed = 0
    pages = client.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="id", ConsistentRead=True
    )
    async for page in pages:
        keys: list[WriteRequestUnionTypeDef] = [
            {"DeleteRequest": {"Key": item}} for item in page.get("Items", [])
        ]
        for start in range(0, len(keys), _BATCH_WRITE_LIMIT):
            removed += await _write(client, table, keys[start : start + _BATCH_WRITE_LIMIT])
    return removed


async def _write(
    client: DynamoDBClient, table: str, requests: list[WriteRequestUnionTypeDef]
) -> int:
    """One BatchWriteItem, again for what DynamoDB left unprocessed (throttling)."""
    done = len(requests)
    while requests:
        answer = await client.batch_write_item(RequestItems={table: requests})
        requests = list(answer.get("UnprocessedItems", {}).get(table, []))
    return done
