"""An in-memory unit of work for unit tests of use cases (no database).

A service's unit tests give it a `Transaction` subclass whose repositories are
in-memory fakes; use cases run unchanged against it. What a real database
guarantees (rollback, isolation, constraints) is the integration tests' job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from panthera.kernel.events import Event
from panthera.kernel.outbox import Outbox
from panthera.kernel.uow import Transaction, TxT, UnitOfWork, _run_after_commit


class FakeUnitOfWork(UnitOfWork[TxT]):
    """Commits every block that does not raise; keeps what was published, in order."""

    def __init__(self, transaction: Callable[..., TxT]) -> None:
        # No database: the transactions' repositories are the test's fakes.
        self._make = transaction
        self.outbox = cast(Outbox, _NoOutbox())
        self.published: list[Event] = []
        self.commits = 0
        self.rollbacks = 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[TxT]:
        tx = self._make(None, self.outbox, writable=True)
        try:
            yield tx
        except BaseException:
            self.rollbacks += 1
            raise
        self.commits += 1
        self.published.extend(tx.recorded)
        for callback in tx._after_commit:
            await _run_after_commit(callback)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[TxT]:
        yield self._make(None, None, writable=False)

    def of_type(self, contract: type[Any]) -> list[dict[str, Any]]:
        """The payloads published of one event type."""
        return [event.data for event in self.published if event.type == contract.TYPE]


class _NoOutbox:
    source = "fake"

    async def insert(self, *_args: object) -> None:
        return None

    def committed(self) -> None:
        return None


__all__ = ["FakeUnitOfWork", "Transaction"]
