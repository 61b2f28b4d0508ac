"""Access tokens: short-lived EdDSA JWTs signed by the users service.

Verification accepts EdDSA only, so `alg: none` and HMAC-with-the-public-key
confusion are refused by construction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from panthera.kernel.auth.keys import SigningKey, public_key_from_jwk
from panthera.kernel.auth.principals import Principal
from panthera.kernel.errors import Unauthorized

ALGORITHM = "EdDSA"


class TokenIssuer:
    def __init__(self, key: SigningKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, *, subject: str, role: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid}
        )


class TokenVerifier:
    """Verifies access tokens against a set of public keys found by `kid`."""

    def __init__(self, *, issuer: str, audience: str, leeway_seconds: int = 5) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self._keys: dict[str, Ed25519PublicKey] = {}

    def add_key(self, kid: str, key: Ed25519PublicKey) -> None:
        self._keys[kid] = key

    def add_jwks(self, jwks: Iterable[dict[str, Any]]) -> None:
        for jwk in jwks:
            self.add_key(str(jwk["kid"]), public_key_from_jwk(jwk))

    def knows(self, kid: str) -> bool:
        return kid in self._keys

    def verify(self, token: str) -> Principal:
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
            return Principal(user_id=uuid.UUID(str(claims["sub"])), role=str(claims.get("role")))
        except ValueError as exc:
            raise Unauthorized("Invalid access token subject") from exc
