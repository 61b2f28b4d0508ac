"""The object store port and its S3 adapter (AWS S3 or any S3-compatible store).

Backups are written through it, and the catalog's S3 media store is built on
the same client (`services/catalog/media_store.py`).
The adapter is aiobotocore, so credentials, region and endpoint come from the
standard AWS configuration: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, an
IAM role (IRSA on EKS), `AWS_REGION`, and `AWS_ENDPOINT_URL_S3` (or
`AWS_ENDPOINT_URL`) for a store that is not AWS, such as SeaweedFS or MinIO.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


class ObjectStore(Protocol):
    async def upload(self, path: Path, key: str) -> None: ...

    async def download(self, key: str, path: Path) -> None: ...

    async def get(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> AsyncIterator[str]:
        """Every key under `prefix` (relative to the store's own prefix), in order."""

    async def delete(self, keys: Sequence[str]) -> None: ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached (readiness and the dependency metric)."""

    async def close(self) -> None: ...


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an S3 URL: {url!r} (s3://bucket/prefix)")
    return parts.netloc, parts.path.strip("/")


class S3ObjectStore:
    """A bucket, or a prefix in one; keys given to it are relative to the prefix."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None

    async def _s3(self) -> S3Client:
        """One client (and its connection pool) for the store's life; `close` ends it."""
        if self._client is None:
            # SigV4 everywhere, presigned URLs included (botocore would presign with SigV2).
            config = AioConfig(
                retries={"max_attempts": 5, "mode": "standard"}, signature_version="s3v4"
            )
            client: S3Client = await self._stack.enter_async_context(
                get_session().create_client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
                )
            )
            self._client = client
        return self._client

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def upload(self, path: Path, key: str) -> None:
        s3 = await self._s3()
        with path.open("rb") as body:
            await s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body)

    async def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        """Write one object from memory, with the headers every reader will get."""
        s3 = await self._s3()
        await s3.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
        )

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    async def listing(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Every object under `prefix` with its size and time of writing."""
        s3 = await self._s3()
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        async for page in pages:
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"].removeprefix(self.prefix),
                    size=int(item.get("Size", 0)),
                    modified=item["LastModified"],
                )

    async def presigned_url(self, key: str, *, expires_seconds: int) -> str:
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.prefix + key},
            ExpiresIn=expires_seconds,
        )
        return url

    def public_url(self, key: str) -> str:
        """The object's URL for anonymous reads (the bucket must allow them)."""
        if self.endpoint_url:  # an S3-compatible store: path-style
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{self.prefix}{key}"
        region = f".{self.region}" if self.region else ""
        return f"https://{self.bucket}.s3{region}.amazonaws.com/{self.prefix}{key}"

    async def download(self, key: str, path: Path) -> None:
        s3 = await self._s3()
        answer = await s3.get_object(Bucket=self.bucket, Key=self.prefix + key)
        with path.open("wb") as out:
            async for chunk in answer["Body"].iter_chunks(1 << 20):
                out.write(chunk)

    async def get(self, key: str) -> bytes:
        s3 = await self._s3()
        answer = await s3.get_object(Bucket=self.bucket, Key=self.prefix + key)
        body: bytes = await answer["Body"].read()
        return body

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        s3 = await self._s3()
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        async for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"].removeprefix(self.prefix)

    async def delete(self, keys: Sequence[str]) -> None:
        s3 = await self._s3()
        for start in range(0, len(keys), 1000):  # the API's limit per call
            chunk = keys[start : start + 1000]
            await s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.prefix + k} for k in chunk], "Quiet": True},
            )

    async def ping(self) -> None:
        s3 = await self._s3()
        await s3.head_bucket(Bucket=self.bucket)
