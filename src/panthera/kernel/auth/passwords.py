"""Argon2id password hashing, run in a worker thread so it never blocks the event loop."""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class PasswordHasher:
    def __init__(
        self, *, time_cost: int = 3, memory_kib: int = 65_536, parallelism: int = 2
    ) -> None:
        self._hash = PasswordHash(
            (Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism),)
        )
        # Verifying against this when an account does not exist keeps the
        # answer's timing the same as for a wrong password.
        self._decoy = self._hash.hash("decoy-password-for-unknown-accounts")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        return await asyncio.to_thread(self._hash.verify, password, hashed or self._decoy)
