"""Product media through the public API, on the directory store and on S3 (SeaweedFS).

The same behaviour tests run against both adapters: an admin uploads, a
customer sees the image and its thumbnail with immutable caching headers, bad
input is refused and stores nothing, deletes remove objects after the commit.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session
from PIL import Image

from panthera.app import Platform, create_platform
from panthera.kernel.service import ServiceSettings
from panthera.kernel.settings import Settings
from panthera.services.catalog.media import collect_garbage
from panthera.services.catalog.media_store import IMMUTABLE
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.settings import CatalogSettings
from tests.conftest import GENEROUS_GATEWAY, Account, assert_problem, eventually, log_in
from tests.ops.seaweedfs import seaweedfs
from tests.services.catalog.conftest import make_product


def picture(kind: str = "JPEG", size: tuple[int, int] = (640, 480), **save: Any) -> bytes:
    """A small photo-like image (noise compresses like a photo, not like a flat colour)."""
    image = Image.merge(
        "RGB", [Image.effect_noise(size, 40 + 20 * band).convert("L") for band in range(3)]
    )
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def bomb() -> bytes:
    """A few kilobytes that decode to 48 million pixels."""
    out = io.BytesIO()
    Image.new("L", (8000, 6000)).save(out, "PNG", optimize=True)
    return out.getvalue()


def with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PantheraCam"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    return picture("JPEG", exif=exif.tobytes())


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


BUCKET = "panthera-media"
"""One bucket for the module (SeaweedFS gives each bucket volumes of its own); every
test has a prefix of its own in it."""


@pytest.fixture(
    params=[
        "sqlite-directory",
        pytest.param("postgresql-directory", marks=pytest.mark.integration),
        # The store does not depend on the database: S3 is tested on one of them.
        pytest.param("sqlite-s3", marks=pytest.mark.integration),
    ]
)
def setup(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_backend(setup: str) -> str:
    return setup.split("-")[0]


@pytest.fixture
async def media_settings(
    setup: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> CatalogSettings:
    if setup.endswith("directory"):
        return CatalogSettings()
    endpoint: str = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "panthera-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "panthera-test-secret")
    async with get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1"
    ) as s3:
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            await s3.create_bucket(Bucket=BUCKET)
    return CatalogSettings(
        media_store="s3",
        media_s3_bucket=BUCKET,
        media_s3_prefix=f"test-{uuid.uuid4().hex[:8]}",
        media_s3_endpoint_url=endpoint,
        media_s3_region="us-east-1",
    )


@pytest.fixture
async def shop(
    settings: Settings,
    service_settings: dict[str, ServiceSettings],
    media_settings: CatalogSettings,
) -> AsyncIterator[Platform]:
    overrides = {**service_settings, "catalog": media_settings}
    platform = create_platform(
        settings, service_settings=overrides, gateway_settings=GENEROUS_GATEWAY
    )
    async with platform.running():
        yield platform


@pytest.fixture
async def web(shop: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The platform, and any other address (the bucket) over real HTTP."""
    transport = httpx.ASGITransport(app=shop.app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def fetch(web: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    if url.startswith("/"):
        return await web.get(url, headers=headers)
    async with httpx.AsyncClient() as outside:  # the bucket's public URL
        return await outside.get(url, headers=headers)


@pytest.fixture
async def boss(shop: Platform, web: httpx.AsyncClient) -> Account:
    from panthera.services.users import service
    from tests.conftest import STRONG_PASSWORD

    await service.ensure_admin(
        rt=shop.hosts["users"].runtime,
        email="root@example.com",
        password=STRONG_PASSWORD,
        username="root",
    )
    return await log_in(web, "root@example.com", STRONG_PASSWORD)


def rt_of(shop: Platform) -> CatalogRuntime:
    runtime: CatalogRuntime = shop.hosts["catalog"].runtime
    return runtime


async def stored_keys(shop: Platform) -> list[str]:
    return [item.key async for item in rt_of(shop).media.listing("")]


async def upload(
    web: httpx.AsyncClient, who: Account, product_id: str, data: bytes, name: str = "p.jpg"
) -> httpx.Response:
    return await web.post(
        f"/v1/products/{product_id}/images",
        files={"file": (name, data, "image/jpeg")},
        headers=who.headers,
    )


async def test_an_uploaded_photo_is_served_cleaned_with_its_thumbnail(
    shop: Platform, web: httpx.AsyncClient, boss: Account
) -> None:
    product = await make_product(web, boss)
    answer = await upload(web, boss, product["id"], with_gps())
    assert answer.status_code == 201, answer.text
    image = answer.json()
    assert set(image) >= {"id", "url", "thumbnailUrl", "width", "height", "contentType"}
    assert (image["width"], image["height"], image["contentType"]) == (640, 480, "image/jpeg")

    # The original, as served: no EXIF, no GPS, cacheable forever.
    original = await fetch(web, image["url"])
    assert original.status_code == 200
    assert IMMUTABLE in original.headers["cache-control"]
    assert original.headers["etag"]
    assert original.headers["content-type"] == "image/jpeg"
    served = Image.open(io.BytesIO(original.content))
    assert not served.getexif()
    assert b"PantheraCam" not in original.content
    assert len(original.content) == image["sizeBytes"]
    revalidated = await fetch(web, image["url"], **{"If-None-Match": original.headers["etag"]})
    assert revalidated.status_code == 304

    # The worker makes the sizes; a customer (anonymous) then sees the thumbnail.
    async def derived() -> dict[str, Any] | None:
        read = (await web.get(f"/v1/products/{product['id']}")).json()
        media = read["media"][0]
        return read if media["thumbnailUrl"] != media["url"] else None

    read = await eventually(derived, timeout=20)
    assert read["images"][0] == image["url"]
    media = read["media"][0]
    sizes = {(v["size"], v["contentType"]) for v in media["variants"]}
    assert sizes == {
        ("thumbnail", "image/webp"),
        ("thumbnail", "image/jpeg"),
        ("medium", "image/webp"),
        ("medium", "image/jpeg"),
    }
    thumbnail = await fetch(web, media["thumbnailUrl"])
    assert thumbnail.status_code == 200
    assert IMMUTABLE in thumbnail.headers["cache-control"]
    assert max(Image.open(io.BytesIO(thumbnail.content)).size) == 256
    webp = next(v for v in media["variants"] if v["contentType"] == "image/webp")
    assert Image.open(io.BytesIO((await fetch(web, webp["url"])).content)).format == "WEBP"


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"GIF89a but not really an image", 400, "not an image"),
        (b"%PDF-1.4 just text", 400, "not an image"),
        (picture("BMP"), 400, "BMP"),
        (picture("TIFF"), 400, "TIFF"),
        (bomb(), 400, "too many pixels"),
        (picture("JPEG")[:4000], 400, "damaged"),
    ],
    ids=["fake-gif", "pdf", "bmp", "tiff", "bomb", "truncated"],
)
async def test_what_is_not_an_accepted_image_is_refused_and_nothing_is_stored(
    shop: Platform, web: httpx.AsyncClient, boss: Account, data: bytes, status: int, words: str
) -> None:
    product = await make_product(web, boss)
    body = assert_problem(await upload(web, boss, product["id"], data), status)
    assert words.lower() in body["detail"].lower()
    assert await stored_keys(shop) == []
    assert (await web.get(f"/v1/products/{product['id']}")).json()["media"] == []


async def test_uploads_are_refused_to_customers_unknown_products_and_big_files(
    shop: Platform, web: httpx.AsyncClient, boss: Account
) -> None:
    product = await make_product(web, boss)
    from tests.conftest import sign_up

    customer = await sign_up(web, "carol")
    assert_problem(await upload(web, customer, product["id"], picture()), 403)
    assert_problem(await upload(web, boss, str(uuid.uuid4()), picture()), 404)
    huge = b"\xff\xd8" + b"0" * (10 * 1024 * 1024 + 1)
    assert_problem(await upload(web, boss, product["id"], huge), 413)
    missing = await web.post(
        f"/v1/products/{product['id']}/images", data={"x": "1"}, headers=boss.headers
    )
    assert_problem(missing, 400)
    assert await stored_keys(shop) == []


async def test_images_are_ordered_reordered_and_deleted_with_their_objects(
    shop: Platform, web: httpx.AsyncClient, boss: Account
) -> None:
    product = await make_product(web, boss, images=["https://img.example.com/typed.jpg"])
    first = (await upload(web, boss, product["id"], picture("PNG"), "a.png")).json()
    second = (await upload(web, boss, product["id"], picture("GIF"), "b.gif")).json()
    assert first["url"] != second["url"]
    read = (await web.get(f"/v1/products/{product['id']}")).json()
    assert [m["id"] for m in read["media"]] == [first["id"], second["id"]]
    assert read["images"] == [first["url"], second["url"], "https://img.example.com/typed.jpg"]

    order = [second["id"], first["id"]]
    path = f"/v1/products/{product['id']}/images/order"
    reordered = await web.put(path, json={"imageIds": order}, headers=boss.headers)
    assert reordered.status_code == 200, reordered.text
    assert [m["id"] for m in reordered.json()["media"]] == order
    assert_problem(await web.put(path, json={"imageIds": [first["id"]]}, headers=boss.headers), 400)
    assert_problem(
        await web.put(path, json={"imageIds": [first["id"]] * 2}, headers=boss.headers), 400
    )

    gone = await web.delete(
        f"/v1/products/{product['id']}/images/{first['id']}", headers=boss.headers
    )
    assert gone.status_code == 204
    assert_problem(
        await web.delete(
            f"/v1/products/{product['id']}/images/{first['id']}", headers=boss.headers
        ),
        404,
    )
    digest = first["url"].split("/")[-2]

    async def objects_gone() -> bool:
        return not any(digest in key for key in await stored_keys(shop))

    await eventually(objects_gone, timeout=20)
    assert (await fetch(web, first["url"])).status_code in (403, 404)
    assert (await fetch(web, second["url"])).status_code == 200

    # Deleting the product removes the rest, after its commit.
    assert (
        await web.delete(f"/v1/products/{product['id']}", headers=boss.headers)
    ).status_code == 204

    async def empty() -> bool:
        return await stored_keys(shop) == []

    await eventually(empty, timeout=20)


async def test_a_picture_shown_twice_stays_until_its_last_image_goes(
    shop: Platform, web: httpx.AsyncClient, boss: Account
) -> None:
    one = await make_product(web, boss)
    two = await make_product(web, boss)
    data = picture("WEBP")
    a = (await upload(web, boss, one["id"], data)).json()
    b = (await upload(web, boss, two["id"], data)).json()
    assert a["url"] == b["url"]  # content-addressed: one object, two images
    assert a["contentType"] == "image/webp"
    await web.delete(f"/v1/products/{one['id']}", headers=boss.headers)

    async def settled() -> bool:
        read = (await web.get(f"/v1/products/{two['id']}")).json()
        return bool(read["media"][0]["variants"])

    await eventually(settled, timeout=20)
    assert (await fetch(web, b["url"])).status_code == 200


async def test_gc_removes_orphans_only_and_dry_run_removes_nothing(
    shop: Platform, web: httpx.AsyncClient, boss: Account
) -> None:
    from datetime import timedelta

    product = await make_product(web, boss)
    kept = (await upload(web, boss, product["id"], picture())).json()
    rt = rt_of(shop)
    orphan = "ab/" + "ab" + "0" * 62 + "/original.jpg"  # what a crash between put and commit leaves
    await rt.media.put(orphan, picture(), content_type="image/jpeg")

    young = await collect_garbage(rt=rt)
    assert young.orphans == [] and young.kept_young >= 1
    dry = await collect_garbage(rt=rt, dry_run=True, min_age=timedelta(0))
    assert dry.orphans == [orphan] and dry.removed == 0
    assert orphan in await stored_keys(shop)
    swept = await collect_garbage(rt=rt, min_age=timedelta(0))
    assert swept.removed == 1
    assert orphan not in await stored_keys(shop)
    assert (await fetch(web, kept["url"])).status_code == 200


def test_the_upload_route_declares_its_body_limit_and_admin_policy(tmp_path: Path) -> None:
    from panthera.gateway.table import platform_table
    from panthera.services.catalog import spec

    table = platform_table([spec])
    route = table.match("POST", f"/v1/products/{uuid.uuid4()}/images")
    assert route is not None and route.owner == "catalog"
    assert route.rule.policy == "admin"
    assert route.rule.body_limit is not None and route.rule.body_limit > 10 * 1024 * 1024
    served = table.match("GET", "/media/ab/abcd/original.jpg")
    assert served is not None and served.owner == "catalog"
    assert served.rule.policy == "anonymous" and served.rule.cache_control == IMMUTABLE


@pytest.mark.integration
async def test_s3_urls_are_public_or_presigned_and_a_cdn_base_url_wins(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from panthera.services.catalog.images import MediaUrls
    from panthera.services.catalog.media_store import create_media_store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "panthera-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "panthera-test-secret")
    async with get_session().create_client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1"
    ) as s3:
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            await s3.create_bucket(Bucket=BUCKET)
    plain = CatalogSettings(
        media_store="s3",
        media_s3_bucket=BUCKET,
        media_s3_prefix=f"urls-{uuid.uuid4().hex[:8]}",
        media_s3_endpoint_url=s3_endpoint,
        media_s3_region="us-east-1",
    )
    platform = Settings(data_dir=tmp_path)
    key = "ab/" + "ab" * 32 + "/original.jpg"
    presigned = plain.model_copy(update={"media_s3_presign_seconds": 600})
    store = create_media_store(platform, presigned)
    try:
        await store.put(key, picture(), content_type="image/jpeg")
        url = await MediaUrls(store, presigned)(key)
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(url)
        assert fetched.status_code == 200
        assert fetched.headers["cache-control"] == IMMUTABLE
        public = await MediaUrls(create_media_store(platform, plain), plain)(key)
        assert public == f"{s3_endpoint}/{BUCKET}/{plain.media_s3_prefix}/{key}"
        cdn = plain.model_copy(update={"media_public_base_url": "https://cdn.example.com/media/"})
        assert await MediaUrls(store, cdn)(key) == f"https://cdn.example.com/media/{key}"
    finally:
        await store.close()
