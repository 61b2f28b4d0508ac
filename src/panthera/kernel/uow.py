"""The unit of work: one transaction, its repositories, its events, what runs after it.

    async with uow.write() as tx:              # one transaction (BEGIN IMMEDIATE on SQLite)
        order = await tx.orders.get(order_id)  # repositories hang off the transaction
        ...
        tx.record(OrderCancelled(...))         # an outbox row, written with the change
        tx.after_commit(wake_refunds)          # runs only once the commit succeeded

    async with uow.read() as tx:               # never takes a write lock
        order = await tx.orders.get(order_id)

A service names its repositories in a `Transaction` subclass; the kernel makes
one per unit of work. Events recorded inside are inserted just before the
commit, in the order recorded, and the service's relay is woken once the commit
succeeded. Fakes for unit tests live in panthera.kernel.fakes.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from panthera.contracts import EventContract
from panthera.kernel.database import Database
from panthera.kernel.events import Event
from panthera.kernel.outbox import Outbox

log = structlog.get_logger("panthera.uow")

AfterCommit = Callable[[], Awaitable[object] | object]


class ReadOnlyTransaction(RuntimeError):
    """An event was recorded in a read: a programming error, never a user's."""


class Transaction:
    """What a use case holds inside `uow.write()` or `uow.read()`.

    Subclasses add their service's repositories in `__init__`, built on `session`.
    """

    def __init__(self, session: AsyncSession, outbox: Outbox | None, *, writable: bool) -> None:
        self.session = session
        self._outbox = outbox
        self._writable = writable
        self._events: list[Event] = []
        self._after_commit: list[AfterCommit] = []

    @property
    def recorded(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def record(self, contract: EventContract) -> Event:
        """Publish `contract` if and only if this transaction commits."""
        if not self._writable or self._outbox is None:
            raise ReadOnlyTransaction(f"cannot record {contract.TYPE} here")
        event = Event.of(contract)
        self._events.append(event)
        return event

    def after_commit(self, callback: AfterCommit) -> None:
        """Run `callback` (plain or async) after a successful commit; never after a rollback."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: on an error, its changes and its recorded events go away."""
        events, callbacks = len(self._events), len(self._after_commit)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._events[events:]
            del self._after_commit[callbacks:]
            raise

    async def _flush_events(self) -> None:
        if self._outbox is not None and self._events:
            await self._outbox.insert(self.session, self._events)


TxT = TypeVar("TxT", bound=Transaction)


class UnitOfWork(Generic[TxT]):
    """Opens transactions of one service's database, each a `TxT`."""

    def __init__(
        self,
        db: Database,
        transaction: Callable[..., TxT],
        *,
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self._transaction = transaction
        self.outbox = outbox

    @asynccontextmanager
    async def write(self) -> AsyncIterator[TxT]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self.db.transaction() as session:
            tx = self._transaction(session, self.outbox, writable=True)
            yield tx
            await tx._flush_events()
        if tx._events and self.outbox is not None:
            self.outbox.committed(tx.recorded)
        for callback in tx._after_commit:
            await _run_after_commit(callback)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[TxT]:
        """A read that never takes a write lock (see `Database.read`); recording is refused."""
        async with self.db.read() as session:
            yield self._transaction(session, None, writable=False)


async def _run_after_commit(callback: AfterCommit) -> None:
    # The commit stands whatever happens here: a failing effect is logged, not raised,
    # since raising would tell the caller that its committed change failed.
    try:
        result = callback()
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("after_commit_failed", callback=getattr(callback, "__qualname__", "?"))
