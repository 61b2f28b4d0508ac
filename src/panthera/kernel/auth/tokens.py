"""Access tokens: short-lived EdDSA JWTs signed by the users service.

Verification accepts EdDSA only, so `alg: none` and HMAC-with-the-public-key
confusion are refused by construction.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from panthera.kernel.auth.keys import SigningKey, public_key_from_jwk
from panthera.kernel.auth.principals import Principal
from panthera.kernel.auth.revocations import Revocations
from panthera.kernel.errors import Unauthorized

ALGORITHM = "EdDSA"
VERIFIED_TOKENS_KEPT = 4096
"""Tokens whose signature and claims were checked, remembered until they expire."""
TOKEN_LEEWAY_SECONDS = 5
"""Clock skew tolerated between the process that issues a token and one that verifies it."""
log = structlog.get_logger("panthera.auth")


class TokenIssuer:
    def __init__(self, key: SigningKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(
        self, *, subject: str, role: str, version: int = 0, session: uuid.UUID | None = None
    ) -> str:
        """A token for `subject`; `version` is the user's token version (see `revocations`),
        `session` the refresh token family it came from."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "ver": version,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        if session is not None:
            claims["sid"] = str(session)
        return jwt.encode(
            claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid}
        )


KeyRefresher = Callable[[], Awaitable[list[dict[str, Any]]]]


class TokenVerifier:
    """Verifies access tokens against a set of public keys found by `kid`.

    With a `refresher` (a JWKS fetch from the users service), a token signed by
    a key not seen yet triggers one refresh, at most every `refresh_interval`
    seconds, so key rotation needs no restart and forged kids cannot flood it.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = TOKEN_LEEWAY_SECONDS,
        refresher: KeyRefresher | None = None,
        refresh_interval: float = 10.0,
        revocations: Revocations | None = None,
        clock: Callable[[], float] = time.monotonic,  # a test steps it past the interval
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self.refresher = refresher
        self.refresh_interval = refresh_interval
        self.clock = clock
        self._last_refresh = float("-inf")
        self._refresh_lock = asyncio.Lock()
        self._keys: dict[str, Ed25519PublicKey] = {}
        # A client sends the same token with every request for its whole life: its signature
        # is checked once (keys are only ever added), its expiry at every use.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self.revocations = revocations or Revocations(ttl_seconds=900 + leeway_seconds)

    def add_key(self, kid: str, key: Ed25519PublicKey) -> None:
        self._keys[kid] = key

    def add_jwks(self, jwks: Iterable[dict[str, Any]]) -> None:
        for jwk in jwks:
            self.add_key(str(jwk["kid"]), public_key_from_jwk(jwk))

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the published keys again (rate limited unless forced)."""
        if self.refresher is None:
            return
        async with self._refresh_lock:
            if not force and self.clock() - self._last_refresh < self.refresh_interval:
                return
            try:
                self.add_jwks(await self.refresher())
            except Exception as exc:  # the users service may be starting or down
                log.warning("jwks_refresh_failed", error=str(exc))
                return
            # Only a successful fetch throttles the next: while the users service is
            # unreachable each unknown key tries again (one at a time, behind the lock).
            self._last_refresh = self.clock()

    def _remembered(self, token: str) -> Principal | None:
        """The principal of a token verified before and not expired since (as `jwt.decode`
        judges expiry, leeway included); past that, verifying again says why it fails."""
        known = self._verified.get(token)
        if known is None:
            return None
        principal, expires_at = known
        if expires_at > time.time() - self.leeway_seconds:
            return principal
        del self._verified[token]
        return None

    def _remember(self, token: str, principal: Principal, expires_at: float) -> None:
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest first
        self._verified[token] = (principal, expires_at)

    async def verify_async(self, token: str) -> Principal:
        """`verify`, first fetching the keys again if the token names an unknown one."""
        known = self._remembered(token)
        if known is not None:
            return known
        if self.refresher is not None:
            try:
                kid = str(jwt.get_unverified_header(token).get("kid"))
            except jwt.PyJWTError as exc:
                raise Unauthorized("Malformed access token") from exc
            if kid not in self._keys:
                await self.refresh()
        return self.verify(token)

    def verify(self, token: str) -> Principal:
        known = self._remembered(token)
        if known is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed access token") from exc
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise Unauthorized("Access token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Access token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid access token") from exc
        try:
            principal = Principal(
                user_id=uuid.UUID(str(claims["sub"])),
                role=str(claims.get("role")),
                token_version=int(claims.get("ver", 0)),
                session_id=uuid.UUID(str(claims["sid"])) if "sid" in claims else None,
            )
            expires_at = float(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise Unauthorized("Invalid access token subject") from exc
        self._remember(token, principal, expires_at)
        return principal

    async def authenticate(self, token: str) -> Principal:
        """`verify_async`, and the token has not been revoked since it was issued.

        Services call this; the edges check signatures and claims only.
        """
        principal = await self.verify_async(token)
        if principal.token_version < await self.revocations.floor(principal.user_id):
            raise Unauthorized("Access token revoked: sign in again")
        return principal
