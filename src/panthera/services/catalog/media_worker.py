"""The media worker: derives image sizes and removes deleted images' objects.

The platform's "worker / batch processing" row. It consumes
`catalog.image.uploaded` and `catalog.image.deleted` as the consumer
`catalog-media`. Distributed, it is its own process (`panthera serve
media-worker`) fed by JetStream: replicas share the durable consumer, an event
is acknowledged only once its job is done, so a worker killed mid-job leaves
the event to be delivered again (after the bus's ack wait) to whichever replica
is alive. Embedded, it is a background task of the catalog fed by the
in-process bus; jobs a crash interrupts are found again at the next start (the
images whose sizes are missing; deleted pictures' objects are `media gc`'s).

Every job is idempotent: the derived objects are named by the original's digest
and are the same bytes each time, and recording them changes only images
without them; removing objects is skipped while any image still shows them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Histogram

from panthera.contracts.catalog import ImageDeleted, ImageUploaded
from panthera.kernel.bus import EventBus, Undeliverable
from panthera.kernel.events import Event
from panthera.kernel.wakeup import stop_loop
from panthera.services.catalog import images, imaging
from panthera.services.catalog.models import Product, ProductImage
from panthera.services.catalog.products import forget_after_commit
from panthera.services.catalog.runtime import CatalogRuntime

CONSUMER = "catalog-media"
CONTRACTS = {contract.TYPE: contract for contract in (ImageUploaded, ImageDeleted)}

log = structlog.get_logger("panthera.catalog.media_worker")
JOBS = Counter(
    "panthera_media_jobs_total", "Media worker jobs, by kind and outcome", ["kind", "outcome"]
)
JOB_SECONDS = Histogram(
    "panthera_media_job_seconds",
    "Time a media job takes, by kind",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class MediaWorker:
    def __init__(self, rt: CatalogRuntime) -> None:
        self.rt = rt

    async def handle(self, event: Event) -> None:
        """Do the event's job; raise to have it delivered again."""
        contract = CONTRACTS.get(event.type)
        if contract is None:
            return
        if event.version != contract.VERSION:
            raise Undeliverable(f"{CONSUMER} reads {event.type} v{contract.VERSION} only")
        data = contract.model_validate(event.data)
        kind = "derive" if isinstance(data, ImageUploaded) else "remove"
        started = time.perf_counter()
        log.info("media_job_started", kind=kind, image_id=str(data.image_id), digest=data.digest)
        try:
            if isinstance(data, ImageUploaded):
                done = await self.derive(data.digest, data.extension)
            else:
                done = await self.remove(data.digest, data.extension)
        except Exception:
            JOBS.labels(kind, "failed").inc()
            raise
        JOBS.labels(kind, "done" if done else "skipped").inc()
        JOB_SECONDS.labels(kind).observe(time.perf_counter() - started)
        log.info("media_job_finished", kind=kind, image_id=str(data.image_id), done=done)

    async def derive(self, digest: str, extension: str) -> bool:
        """Write the derived sizes of a picture and record them; False if not needed."""
        rt = self.rt
        async with rt.uow.read() as tx:
            waiting = await tx.session.scalar(
                sa.select(ProductImage.id)
                .where(ProductImage.digest == digest, ProductImage.variants.is_(None))
                .limit(1)
            )
        if waiting is None:  # done before (a redelivery), or the image is gone
            return False
        original = await rt.media.get(images.original_key(digest, extension))
        if original is None:
            log.warning("media_original_missing", digest=digest)
            return False
        derived = await asyncio.to_thread(imaging.derive, original, extension)
        for size in derived:
            key = images.variant_key(digest, size.size, size.extension)
            await rt.media.put(key, size.data, content_type=size.content_type)
        async with rt.uow.write() as tx:
            await tx.images.mark_derived(digest, images.variant_records(derived))
            # The products showing it read differently now: new versions, fresh caches.
            showing = list(
                await tx.session.scalars(
                    sa.select(ProductImage.product_id).where(ProductImage.digest == digest)
                )
            )
            await tx.session.execute(
                sa.update(Product)
                .where(Product.id.in_(showing))
                .values(version=Product.version + 1)
                .execution_options(synchronize_session=False)
            )
            forget_after_commit(tx, rt.cache, showing)
        return True

    async def remove(self, digest: str, extension: str) -> bool:
        """Remove a picture's objects unless an image still shows it."""
        async with self.rt.uow.read() as tx:
            if await tx.images.in_use(digest):
                return False
        await self.rt.media.delete(images.object_keys(digest, extension))
        return True

    async def catch_up(self) -> int:
        """Derive every picture still waiting for its sizes (after a crash); how many."""
        done = 0
        while True:
            async with self.rt.uow.read() as tx:
                waiting = await tx.images.underived(limit=100)
            progressed = False
            for digest, extension in waiting:
                if await self.derive(digest, extension):
                    done += 1
                    progressed = True
            if not progressed:
                return done


@asynccontextmanager
async def consuming(worker: MediaWorker, bus: EventBus) -> AsyncIterator[None]:
    """The worker process: jobs come from the bus, each acknowledged once done."""
    unsubscribe = await bus.subscribe(
        consumer=CONSUMER, types=list(CONTRACTS), deliver=worker.handle
    )
    try:
        yield
    finally:
        await unsubscribe()


@asynccontextmanager
async def in_background(worker: MediaWorker, bus: EventBus) -> AsyncIterator[None]:
    """The embedded worker: the in-process bus hands jobs to a queue, so that image work
    never holds up the catalog's relay, and a task works through them."""
    queue: asyncio.Queue[Event] = asyncio.Queue()

    async def enqueue(event: Event) -> None:
        queue.put_nowait(event)

    async def work() -> None:
        try:
            await worker.catch_up()
        except Exception as exc:  # the next start tries again; new jobs need not wait
            log.warning("media_catch_up_failed", error=repr(exc))
        while True:
            event = await queue.get()
            for attempt in range(1, 4):
                try:
                    await worker.handle(event)
                    break
                except Undeliverable as exc:
                    log.error("media_job_refused", event_id=str(event.id), error=str(exc))
                    break
                except Exception as exc:
                    log.warning(
                        "media_job_failed", event_id=str(event.id), attempt=attempt, error=repr(exc)
                    )
                    await asyncio.sleep(0.2 * attempt)

    unsubscribe = await bus.subscribe(consumer=CONSUMER, types=list(CONTRACTS), deliver=enqueue)
    task = asyncio.create_task(work(), name="media-worker")
    try:
        yield
    finally:
        await unsubscribe()
        await stop_loop(task)
