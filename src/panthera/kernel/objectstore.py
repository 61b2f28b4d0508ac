"""The object store port and its S3 adapter (AWS S3 or any S3-compatible store).

Backups are written through it today; product media are meant to use the
same port (a directory in the embedded topology, S3 in the distributed one).
The adapter is aiobotocore, so credentials, region and endpoint come from the
standard AWS configuration: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, an
IAM role (IRSA on EKS), `AWS_REGION`, and `AWS_ENDPOINT_URL_S3` (or
`AWS_ENDPOINT_URL`) for a store that is not AWS, such as SeaweedFS or MinIO.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


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

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None

    async def _s3(self) -> S3Client:
        """One client (and its connection pool) for the store's life; `close` ends it."""
        if self._client is None:
            config = AioConfig(retries={"max_attempts": 5, "mode": "standard"})
            client: S3Client = await self._stack.enter_async_context(
                get_session().create_client("s3", endpoint_url=self.endpoint_url, config=config)
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
