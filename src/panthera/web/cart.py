"""The cart, kept in a cookie so that it survives visits and signing in.

The cookie holds product ids and quantities only; prices and names are read
from the API each time, so a tampered cookie can at worst order something else.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

COOKIE = "panthera_cart"
MAX_LINES = 30
MAX_QUANTITY = 99
_LINE = re.compile(r"^([0-9a-f]{32})-([0-9]{1,2})$")


@dataclass
class Cart:
    lines: dict[str, int] = field(default_factory=dict)
    """Product id (canonical UUID text) -> quantity, in the order first added."""
    changed: bool = False

    @classmethod
    def from_cookie(cls, value: str | None) -> Cart:
        cart = cls()
        for part in (value or "").split(".")[:MAX_LINES]:
            match = _LINE.match(part)
            if match and 1 <= int(match[2]) <= MAX_QUANTITY:
                cart.lines[str(uuid.UUID(hex=match[1]))] = int(match[2])
        return cart

    def to_cookie(self) -> str:
        return ".".join(f"{uuid.UUID(pid).hex}-{quantity}" for pid, quantity in self.lines.items())

    @property
    def count(self) -> int:
        return sum(self.lines.values())

    def add(self, product_id: uuid.UUID, quantity: int) -> None:
        key = str(product_id)
        if key not in self.lines and len(self.lines) >= MAX_LINES:
            raise ValueError(f"A cart holds at most {MAX_LINES} different products")
        self.set(product_id, self.lines.get(key, 0) + quantity)

    def set(self, product_id: uuid.UUID, quantity: int) -> None:
        key = str(product_id)
        if quantity <= 0:
            self.lines.pop(key, None)
        else:
            self.lines[key] = min(quantity, MAX_QUANTITY)
        self.changed = True

    def clear(self) -> None:
        self.lines.clear()
        self.changed = True
