"""The distributed topology's bus: NATS JetStream through nats-py.

One stream per source service (`<PREFIX>_USERS` on `<prefix>.users.>`), file
storage, message-id deduplication over a window so a relay that publishes a row
again after a crash adds nothing. Each consuming service has one durable push
consumer per source stream, bound to a queue group of the same name: replicas
share the deliveries. Acks are explicit; a failure is nak'ed with a growing
delay; after `max_deliver` attempts the event goes to `<prefix>.deadletter.
<consumer>.<type>` (kept in the `<PREFIX>_DEADLETTER` stream) and is terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from urllib.parse import urlsplit

import nats
import sqlalchemy as sa
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, NotFoundError
from pydantic import ValidationError

from panthera.kernel.bus import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    REDELIVERIES,
    Deliver,
    Undeliverable,
    Unsubscribe,
    source_of,
)
from panthera.kernel.bus.settings import BusSettings
from panthera.kernel.database import Database
from panthera.kernel.events import Event
from panthera.kernel.wakeup import stop_loop

log = structlog.get_logger("panthera.bus")

DEADLETTER = "deadletter"


class JetStreamBus:
    def __init__(self, url: str, settings: BusSettings | None = None) -> None:
        self.url = url
        self.settings = settings or BusSettings()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._users = 0
        self._lock = asyncio.Lock()
        self._streams: set[str] = set()
        self._consumers: set[tuple[str, str]] = set()
        self._lag_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    # -- names -------------------------------------------------------------

    def stream_name(self, source: str) -> str:
        return f"{self.settings.stream_prefix}_{source.upper()}"

    def subject(self, event_type: str) -> str:
        return f"{self.settings.subject_prefix}.{event_type}"

    def deadletter_subject(self, consumer: str, event_type: str) -> str:
        return f"{self.settings.subject_prefix}.{DEADLETTER}.{consumer}.{event_type}"

    # -- lifecycle ---------------------------------------------------------

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the JetStream bus is not connected")
        return self._js

    async def connect(self) -> None:
        async with self._lock:
            if self._nc is not None:
                self._users += 1
                return
            # nats-py retries a first connection forever when reconnects are unlimited;
            # probing the server first makes "NATS is down" an error the caller can
            # report and retry, while later disconnects still reconnect on their own.
            await _probe(self.url)
            self._nc = await nats.connect(
                self.url,
                name="panthera",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                error_cb=_log_nats_error,
            )
            self._js = self._nc.jetstream()
            try:
                await self.ensure_stream(DEADLETTER)
            except BaseException:
                # Connected but unusable (e.g. too few servers for the replicas asked for):
                # leave no half-open client behind for the next attempt to find.
                nc, self._nc, self._js = self._nc, None, None
                await nc.close()
                raise
            self._users += 1
            self._lag_task = asyncio.create_task(self._watch_lag(), name="consumer-lag")

    async def close(self) -> None:
        async with self._lock:
            self._users -= 1
            if self._users > 0 or self._nc is None:
                return
            if self._lag_task is not None:
                await stop_loop(self._lag_task)
            # Finish what is in hand, so its acks go out before the connection closes.
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=10)
            nc, self._nc, self._js = self._nc, None, None
            self._streams.clear()
            self._consumers.clear()
            # Drain: messages already handed to a callback are finished and acked.
            with contextlib.suppress(Exception):
                await nc.drain()

    async def ping(self) -> None:
        if self._nc is None or not self._nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await self._nc.flush(timeout=2)

    async def ensure_stream(self, source: str) -> str:
        name = self.stream_name(source)
        if name in self._streams:
            return name
        config = api.StreamConfig(
            name=name,
            subjects=[f"{self.settings.subject_prefix}.{source}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            duplicate_window=self.settings.duplicate_window_seconds,
            max_age=self.settings.max_age_days * 86_400,
            num_replicas=self.settings.stream_replicas,
        )
        try:
            try:
                await self.js.add_stream(config)
            except BadRequestError:
                # It exists with another configuration (e.g. a changed window): adopt ours.
                await self.js.update_stream(config)
        except APIError as exc:
            if self.settings.stream_replicas > 1:
                # A single server (or too small a cluster) cannot hold the copies asked for.
                raise RuntimeError(
                    f"NATS cannot keep {self.settings.stream_replicas} copies of stream "
                    f"{name} ({exc.description}): run a cluster of at least that many "
                    "JetStream servers, or lower PANTHERA_EVENTS__STREAM_REPLICAS"
                ) from exc
            raise
        self._streams.add(name)
        return name

    async def delete_streams(self, sources: Collection[str]) -> None:
        """Remove the streams of these sources and the dead letters (tests, tear-down)."""
        for source in [*sources, DEADLETTER]:
            with contextlib.suppress(NotFoundError):
                await self.js.delete_stream(self.stream_name(source))
            self._streams.discard(self.stream_name(source))

    # -- publishing --------------------------------------------------------

    async def publish(self, event: Event) -> None:
        stream = await self.ensure_stream(event.source)
        ack = await self.js.publish(
            self.subject(event.type),
            event.model_dump_json().encode(),
            stream=stream,
            headers={"Nats-Msg-Id": str(event.id)},
        )
        if ack.duplicate:
            log.info("event_publish_deduplicated", event_id=str(event.id), type=event.type)

    async def publish_batch(self, events: Sequence[Event]) -> tuple[int, Exception | None]:
        """Publish events in order with all of them in flight at once (acks pipelined);
        how many, from the first, JetStream acknowledged, and the first failure if any.

        One connection delivers messages to the server in the order sent, so the stream
        stores them in that order; only a prefix of acknowledged events counts, so that
        what follows a failure is published again (and deduplicated) rather than marked.
        """
        acks: list[asyncio.Future[api.PubAck]] = []
        failure: Exception | None = None
        try:
            for event in events:
                stream = await self.ensure_stream(event.source)
                acks.append(
                    await self.js.publish_async(
                        self.subject(event.type),
                        event.model_dump_json().encode(),
                        stream=stream,
                        headers={"Nats-Msg-Id": str(event.id)},
                    )
                )
        except Exception as exc:
            failure = exc
        if acks:
            _done, late = await asyncio.wait(acks, timeout=self.settings.publish_ack_seconds)
            for future in late:  # frees its slot in nats-py's table of pending publications
                future.cancel()
        accepted = 0
        for event, future in zip(events, acks, strict=False):
            error = _ack_error(future)
            if error is not None:
                failure = error
                break
            accepted += 1
            if future.result().duplicate:
                log.info("event_publish_deduplicated", event_id=str(event.id), type=event.type)
        for future in acks[accepted:]:  # retrieve every outcome: none is left unobserved
            _ack_error(future)
        return accepted, failure

    # -- consuming ---------------------------------------------------------

    def _consumer_config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            max_deliver=self.settings.max_deliver,
            ack_wait=self.settings.ack_wait_seconds,
            max_ack_pending=self.settings.max_ack_pending,
        )

    async def subscribe(
        self, *, consumer: str, types: Collection[str], deliver: Deliver
    ) -> Unsubscribe:
        wanted = frozenset(types)
        subscriptions = []
        for source in sorted({source_of(t) for t in wanted}):
            stream = await self.ensure_stream(source)
            callback = self._callback(consumer, wanted, deliver)
            for attempt in range(5):
                try:
                    # The queue group is also the durable name: every replica of
                    # `consumer` binds to the same durable and shares its deliveries.
                    sub = await self.js.subscribe(
                        f"{self.settings.subject_prefix}.{source}.>",
                        queue=consumer,
                        stream=stream,
                        config=self._consumer_config(),
                        manual_ack=True,
                        cb=callback,
                    )
                    break
                except BadRequestError:
                    # Two replicas created the durable at once; the loser binds to it.
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.1 * (attempt + 1))
            subscriptions.append(sub)
            self._consumers.add((stream, consumer))
            log.info("consumer_subscribed", consumer=consumer, stream=stream)

        async def unsubscribe() -> None:
            for sub in subscriptions:
                with contextlib.suppress(Exception):
                    # Stop taking deliveries but keep the durable: it is the position.
                    await sub.drain()  # type: ignore[no-untyped-call]

        return unsubscribe

    async def observe(self, *, types: Collection[str], deliver: Deliver) -> Unsubscribe:
        wanted = frozenset(types)
        subscriptions = []

        async def on_message(msg: Msg) -> None:
            try:
                event = Event.model_validate_json(msg.data)
                if event.type in wanted:
                    await deliver(event)
            except Exception as exc:  # an observer is best-effort by definition
                log.warning("observer_failed", subject=msg.subject, error=repr(exc))

        for event_type in sorted(wanted):
            stream = await self.ensure_stream(source_of(event_type))
            # An ephemeral consumer per process: no durable, no queue group, so every
            # observing process hears every event, from now on, without acks.
            subscriptions.append(
                await self.js.subscribe(
                    self.subject(event_type),
                    stream=stream,
                    config=api.ConsumerConfig(
                        deliver_policy=api.DeliverPolicy.NEW,
                        ack_policy=api.AckPolicy.NONE,
                        inactive_threshold=60.0,
                    ),
                    cb=on_message,
                )
            )

        async def unsubscribe() -> None:
            for sub in subscriptions:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

        return unsubscribe

    def _callback(self, consumer: str, wanted: frozenset[str], deliver: Deliver):  # type: ignore[no-untyped-def]
        # nats-py runs a subscription's callback one message at a time; handling
        # runs in tasks so that a replica works on several events at once, while
        # waiting for a free slot here keeps the backpressure.
        slots = asyncio.Semaphore(self.settings.consumer_concurrency)

        async def on_message(msg: Msg) -> None:
            await slots.acquire()
            task = asyncio.create_task(handle(msg))
            self._inflight.add(task)

            def done(finished: asyncio.Task[None]) -> None:
                slots.release()
                self._inflight.discard(finished)

            task.add_done_callback(done)

        async def handle(msg: Msg) -> None:
            try:
                await process(msg)
            except Exception as exc:  # an ack that could not be sent: redelivered later
                log.warning("event_ack_failed", consumer=consumer, error=repr(exc))

        async def process(msg: Msg) -> None:
            try:
                event = Event.model_validate_json(msg.data)
            except ValidationError as exc:
                log.error("event_malformed", consumer=consumer, subject=msg.subject, error=str(exc))
                await self._dead_letter_raw(consumer, "malformed", msg.data, str(exc))
                await msg.term()
                return
            if event.type not in wanted:
                await msg.ack()
                return
            try:
                await deliver(event)
            except Exception as exc:
                await self._failed(consumer, event, msg, exc)
                return
            await msg.ack()

        return on_message

    async def _failed(self, consumer: str, event: Event, msg: Msg, exc: Exception) -> None:
        delivered = msg.metadata.num_delivered or 1
        if delivered >= self.settings.max_deliver or isinstance(exc, Undeliverable):
            DEAD_LETTERS.labels(consumer, event.type).inc()
            log.error(
                "event_dead_lettered",
                consumer=consumer,
                event_id=str(event.id),
                type=event.type,
                attempts=delivered,
                error=repr(exc),
            )
            await self._dead_letter_raw(consumer, event.type, msg.data, repr(exc), event)
            await msg.term()
            return
        REDELIVERIES.labels(consumer, event.type).inc()
        delay = self.settings.backoff(delivered)
        log.warning(
            "event_redelivery",
            consumer=consumer,
            event_id=str(event.id),
            type=event.type,
            attempt=delivered,
            retry_in=delay,
            error=repr(exc),
        )
        await msg.nak(delay=delay)

    async def _dead_letter_raw(
        self, consumer: str, kind: str, data: bytes, error: str, event: Event | None = None
    ) -> None:
        headers = {"Panthera-Consumer": consumer, "Panthera-Error": error[:500]}
        if event is not None:
            # Dead-lettering the same failure twice (after a crash) keeps one copy.
            headers["Nats-Msg-Id"] = f"{consumer}:{event.id}"
        await self.js.publish(
            self.deadletter_subject(consumer, kind),
            data,
            stream=self.stream_name(DEADLETTER),
            headers=headers,
        )

    async def _watch_lag(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lag_poll_seconds)
            for stream, consumer in list(self._consumers):
                try:
                    info = await self.js.consumer_info(stream, consumer)
                except Exception as exc:  # the lag metric must never stop the consumer
                    log.warning("consumer_lag_unknown", stream=stream, error=repr(exc))
                    continue
                lag = (info.num_pending or 0) + (info.num_ack_pending or 0)
                source = stream.removeprefix(f"{self.settings.stream_prefix}_").lower()
                CONSUMER_LAG.labels(consumer, source).set(lag)

    def report_backlog(self, source: str, backlog: int) -> None:
        return None

    def attach_outbox(self, source: str, db: Database, table: sa.Table) -> None:
        return None

    async def replay(self, *, types: Collection[str], since: datetime) -> AsyncIterator[Event]:
        wanted = set(types)
        for source in sorted({source_of(t) for t in wanted}):
            stream = await self.ensure_stream(source)
            info = await self.js.stream_info(stream)
            if not info.state.messages:
                continue
            # An ephemeral, ordered consumer from `since`: reading it changes no durable.
            sub = await self.js.subscribe(
                f"{self.settings.subject_prefix}.{source}.>",
                stream=stream,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.BY_START_TIME,
                config=api.ConsumerConfig(opt_start_time=since),
            )
            try:
                while True:
                    try:
                        msg = await sub.next_msg(timeout=2)
                    except nats.errors.TimeoutError:
                        break
                    event = Event.model_validate_json(msg.data)
                    if event.type in wanted:
                        yield event
                    if not msg.metadata.num_pending:
                        break
            finally:
                await sub.unsubscribe()


def _ack_error(future: asyncio.Future[api.PubAck]) -> Exception | None:
    if future.cancelled():
        return TimeoutError("JetStream did not acknowledge the publication in time")
    error = future.exception()
    return error if isinstance(error, Exception) or error is None else RuntimeError(repr(error))


async def _probe(url: str) -> None:
    """Raise `ConnectionError` unless something accepts connections at the NATS URL."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"NATS is not reachable at {host}:{port}: {exc}") from exc
    writer.close()


async def _log_nats_error(error: Exception) -> None:
    log.warning("nats_connection_error", error=str(error) or type(error).__name__)
