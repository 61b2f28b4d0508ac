"""What wakes the payment worker, and the charges handed to it without a query.

A reservation committed in this process hands its charge over with everything the
charge needs, so the worker charges at once and reads nothing. Anything else made
due (a refund, a charge that landed after a cancel, work of a crashed replica) is
found by a sweep of the table: on `set()`, and on the worker's slow safety poll.
"""

from __future__ import annotations

import asyncio
from collections import deque

from panthera.services.orders.repository import DueCharge


class PaymentsDue(asyncio.Event):
    """An `asyncio.Event` (what every use case sets after a commit) that also carries
    handed-over charges and remembers whether a sweep was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self._charges: deque[DueCharge] = deque()
        self._sweep = False

    def set(self) -> None:
        """Something is due that only a sweep of the table finds."""
        self._sweep = True
        super().set()

    def hand_over(self, charge: DueCharge) -> None:
        """A charge this process just made due: the worker takes it without a query."""
        self._charges.append(charge)
        super().set()

    def take(self) -> tuple[list[DueCharge], bool]:
        """The handed-over charges, and whether a sweep was asked for; both reset."""
        charges = list(self._charges)
        self._charges.clear()
        sweep, self._sweep = self._sweep, False
        return charges, sweep
