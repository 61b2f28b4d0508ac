"""The DynamoDB adapter of the notification store (the table: dynamodb_table.py).

Every write is conditional, which is what keeps the store's promises without a
transaction shared with the SQL inbox (store.py): a put only when the id is new, a
claim only while the item is queued and due, a retry or a failure only while the
item is still the claim the caller made, a delivery only once.
"""

from __future__ import annotations

import asyncio
import heapq
import uuid
import zlib
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from panthera.kernel.uow import Transaction
from panthera.services.notifications.dynamodb_table import (
    BY_TIME,
    BY_USER,
    DUE,
    DUE_SHARDS,
    TIME_SHARDS,
)
from panthera.services.notifications.store import Channel, Notification, Status

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

Item = dict[str, Any]
"""An item in DynamoDB's typed JSON: {"attempts": {"N": "1"}, ...}."""

_STRINGS = ("channel", "to", "template", "subject", "body", "html", "status", "last_error")
_TIMES = ("created_at", "sent_at", "next_attempt_at")
_BATCH_GET_LIMIT = 100
_STILL_CLAIMED: dict[str, Any] = {
    "ConditionExpression": "#status = :queued AND attempts = :attempts",
    "ExpressionAttributeNames": {"#status": "status"},
}
"""Only the claim the caller made may report on it (store.py)."""


def _time(at: datetime) -> str:
    """One fixed format in UTC, so that strings sort (and compare) as the times do."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _shard(notification_id: uuid.UUID, shards: int) -> str:
    return str(zlib.crc32(notification_id.bytes) % shards)


def encode(n: Notification) -> Item:
    item: Item = {
        "id": {"S": str(n.id)},
        "user_id": {"S": str(n.user_id)},
        "event_id": {"S": str(n.event_id)},
        "attempts": {"N": str(n.attempts)},
        "created": {"S": f"{_time(n.created_at)}#{n.id}"},
        "time_shard": {"S": _shard(n.id, TIME_SHARDS)},
        "due_shard": {"S": _shard(n.id, DUE_SHARDS)},
    }
    for name in _STRINGS:
        value = getattr(n, name)
        if value is not None:
            item[name] = {"S": value}
    for name in _TIMES:
        at = getattr(n, name)
        if at is not None:
            item[name] = {"S": _time(at)}
    return item


def decode(item: Item) -> Notification:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value["S"])

    def time(name: str) -> datetime | None:
        value = text(name)
        return None if value is None else datetime.fromisoformat(value)

    created_at = time("created_at")
    assert created_at is not None
    return Notification(
        id=uuid.UUID(item["id"]["S"]),
        user_id=uuid.UUID(item["user_id"]["S"]),
        channel=cast(Channel, text("channel")),
        to=text("to") or "",
        template=text("template") or "",
        subject=text("subject"),
        body=text("body") or "",
        html=text("html"),
        status=cast(Status, text("status")),
        attempts=int(item["attempts"]["N"]),
        last_error=text("last_error"),
        event_id=uuid.UUID(item["event_id"]["S"]),
        created_at=created_at,
        sent_at=time("sent_at"),
        next_attempt_at=time("next_attempt_at"),
    )


def _refused(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoNotificationStore:
    """Notifications in one DynamoDB table, through a client the caller opens and closes."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    async def ping(self) -> None:
        await self.client.describe_table(TableName=self.table)

    # -- writing ------------------------------------------------------------

    async def add(self, tx: Transaction, notifications: Sequence[Notification]) -> None:
        # Written now, before the handler's inbox row commits (store.py): a redelivery
        # after a failed commit puts the same ids, and the condition refuses them.
        await asyncio.gather(*(self._put_new(n) for n in notifications))

    async def _put_new(self, notification: Notification) -> None:
        try:
            await self.client.put_item(
                TableName=self.table,
                Item=encode(notification),
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if not _refused(error):
                raise

    async def _update(self, notification_id: uuid.UUID, **request: Any) -> Item | None:
        """A conditional update; None when the condition refused it."""
        try:
            answer = await self.client.update_item(
                TableName=self.table, Key={"id": {"S": str(notification_id)}}, **request
            )
        except ClientError as error:
            if _refused(error):
                return None
            raise
        return answer.get("Attributes")

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[Notification]:
        candidates = await asyncio.gather(
            *(self._due(shard, now=now, limit=limit) for shard in range(DUE_SHARDS))
        )
        # The oldest due first, across shards.
        oldest = heapq.nsmallest(
            limit, (c for found in candidates for c in found), key=lambda c: c[0]
        )
        claims = await asyncio.gather(
            *(self._claim(notification_id, now=now, lease=lease) for _, notification_id in oldest)
        )
        return [claimed for claimed in claims if claimed is not None]

    async def _due(self, shard: int, *, now: datetime, limit: int) -> list[tuple[str, uuid.UUID]]:
        answer = await self.client.query(
            TableName=self.table,
            IndexName=DUE,
            KeyConditionExpression="due_shard = :shard AND next_attempt_at <= :now",
            ExpressionAttributeValues={":shard": {"S": str(shard)}, ":now": {"S": _time(now)}},
            Limit=limit,
        )
        return [
            (item["next_attempt_at"]["S"], uuid.UUID(item["id"]["S"]))
            for item in answer.get("Items", [])
        ]

    async def _claim(
        self, notification_id: uuid.UUID, *, now: datetime, lease: timedelta
    ) -> Notification | None:
        # The index is eventually consistent and other senders race for the same items:
        # the condition, checked on the item itself, lets exactly one claim win.
        claimed = await self._update(
            notification_id,
            UpdateExpression="SET attempts = attempts + :one, next_attempt_at = :until",
            ConditionExpression="#status = :queued AND next_attempt_at <= :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":until": {"S": _time(now + lease)},
                ":queued": {"S": "queued"},
                ":now": {"S": _time(now)},
            },
            ReturnValues="ALL_NEW",
        )
        return None if claimed is None else decode(claimed)

    async def mark_sent(self, notification_id: uuid.UUID, *, at: datetime) -> None:
        await self._update(
            notification_id,
            UpdateExpression="SET #status = :sent, sent_at = :at "
            "REMOVE next_attempt_at, last_error",
            ConditionExpression="attribute_exists(id) AND #status <> :sent",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sent": {"S": "sent"}, ":at": {"S": _time(at)}},
        )

    async def mark_retry(
        self, claimed: Notification, *, error: str, next_attempt_at: datetime
    ) -> None:
        await self._update(
            claimed.id,
            UpdateExpression="SET last_error = :error, next_attempt_at = :next",
            **_STILL_CLAIMED,
            ExpressionAttributeValues={
                ":error": {"S": error[:1000]},
                ":next": {"S": _time(next_attempt_at)},
                ":queued": {"S": "queued"},
                ":attempts": {"N": str(claimed.attempts)},
            },
        )

    async def mark_failed(self, claimed: Notification, *, error: str) -> None:
        await self._update(
            claimed.id,
            UpdateExpression="SET #status = :failed, last_error = :error REMOVE next_attempt_at",
            **_STILL_CLAIMED,
            ExpressionAttributeValues={
                ":failed": {"S": "failed"},
                ":error": {"S": error[:1000]},
                ":queued": {"S": "queued"},
                ":attempts": {"N": str(claimed.attempts)},
            },
        )

    # -- reading ------------------------------------------------------------

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        answer = await self.client.get_item(
            TableName=self.table, Key={"id": {"S": str(notification_id)}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return None if item is None else decode(item)

    async def find(
        self, *, user_id: uuid.UUID | None, channel: Channel | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        if user_id is not None:
            return await self._find_for_user(user_id, channel=channel, offset=offset, limit=limit)
        return await self._find_all(channel=channel, offset=offset, limit=limit)

    def _query(
        self, *, index: str, partition: tuple[str, str], channel: Channel | None, **extra: Any
    ) -> dict[str, Any]:
        """Newest first in one partition of an index, of one channel if given."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{partition[0]} = :key",
            "ExpressionAttributeValues": {":key": {"S": partition[1]}},
            "ScanIndexForward": False,
            **extra,
        }
        if channel is not None:
            request["FilterExpression"] = "channel = :channel"
            request["ExpressionAttributeValues"][":channel"] = {"S": channel}
        return request

    async def _items(self, request: dict[str, Any]) -> AsyncGenerator[Item, None]:
        """Every item a query matches, page after page (a page is at most 1 MB)."""
        pages = self.client.get_paginator("query").paginate(**request)
        async for page in pages:
            for item in page.get("Items", []):
                yield item

    async def _find_for_user(
        self, user_id: uuid.UUID, *, channel: Channel | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        # One query of the user's partition: it counts what it reads and keeps the page.
        request = self._query(index=BY_USER, partition=("user_id", str(user_id)), channel=channel)
        total, page = 0, []
        async for item in self._items(request):
            if offset <= total < offset + limit:
                page.append(decode(item))
            total += 1
        return total, page

    async def _find_all(
        self, *, channel: Channel | None, offset: int, limit: int
    ) -> tuple[int, list[Notification]]:
        # Each time shard gives its newest `offset + limit` keys and its count; the page is
        # the merge's slice, then fetched whole from the table (the index holds keys only).
        shards = await asyncio.gather(
            *(
                self._shard_listing(shard, channel=channel, keep=offset + limit)
                for shard in range(TIME_SHARDS)
            )
        )
        total = sum(count for count, _ in shards)
        newest = heapq.merge(*(keys for _, keys in shards), reverse=True)
        wanted = [key.split("#", 1)[1] for key in list(newest)[offset : offset + limit]]
        found = await self._get_many(wanted)
        return total, [found[i] for i in wanted if i in found]

    async def _shard_listing(
        self, shard: int, *, channel: Channel | None, keep: int
    ) -> tuple[int, list[str]]:
        """A shard's count and its newest `keep` sort keys, asked for at once."""
        return await asyncio.gather(
            self._shard_count(shard, channel=channel),
            self._shard_newest(shard, channel=channel, keep=keep),
        )

    async def _shard_newest(self, shard: int, *, channel: Channel | None, keep: int) -> list[str]:
        keys: list[str] = []
        request = self._query(
            index=BY_TIME,
            partition=("time_shard", str(shard)),
            channel=channel,
            ProjectionExpression="created",
            Limit=keep,  # per page: read no more than needed (a filter may ask for more pages)
        )
        async with aclosing(self._items(request)) as items:
            async for item in items:
                keys.append(item["created"]["S"])
                if len(keys) >= keep:
                    break
        return keys

    async def _shard_count(self, shard: int, *, channel: Channel | None) -> int:
        # DynamoDB counts on its side (Select=COUNT): no item travels back.
        request = self._query(
            index=BY_TIME, partition=("time_shard", str(shard)), channel=channel, Select="COUNT"
        )
        count = 0
        async for answer in self.client.get_paginator("query").paginate(**request):
            count += answer["Count"]
        return count

    async def _get_many(self, ids: list[str]) -> dict[str, Notification]:
        found: dict[str, Notification] = {}
        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            keys: list[Item] = [{"id": {"S": i}} for i in ids[start : start + _BATCH_GET_LIMIT]]
            while keys:
                answer = await self.client.batch_get_item(RequestItems={self.table: {"Keys": keys}})
                for item in answer.get("Responses", {}).get(self.table, []):
                    found[item["id"]["S"]] = decode(item)
                # Throttled keys come back unprocessed: ask for them again.
                unprocessed = answer.get("UnprocessedKeys", {}).get(self.table)
                keys = list(unprocessed["Keys"]) if unprocessed else []
        return found
