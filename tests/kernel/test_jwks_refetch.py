"""A service that verifies tokens by the users service's JWKS, against a real HTTP server.

The JWKS is served by a small server of the test's own, which counts the fetches
that reach it: an unknown key id must cause a fetch, a known one none, and only
a successful fetch may hold back the next one. The verifier's clock is stepped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from panthera.app import remote_verifier
from panthera.kernel.auth.keys import SigningKey
from panthera.kernel.auth.tokens import TokenIssuer, TokenVerifier
from panthera.kernel.errors import Unauthorized
from panthera.kernel.settings import Settings
from tests.upstream import Answer, Upstream, upstream_server

SETTINGS = Settings()
INTERVAL = 10.0


class SteppedClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def signing_key(kid: str) -> SigningKey:
    return SigningKey(kid, Ed25519PrivateKey.generate())


def token(key: SigningKey) -> str:
    issuer = TokenIssuer(
        key, issuer=SETTINGS.jwt_issuer, audience=SETTINGS.jwt_audience, ttl_seconds=300
    )
    return issuer.issue(subject=str(uuid.uuid4()), role="customer")


def jwks(*keys: SigningKey) -> Answer:
    return Answer(200, {"keys": [key.jwk() for key in keys]})


@pytest.fixture
def users() -> Iterator[Upstream]:
    with upstream_server(Answer(503, {"detail": "starting"})) as server:
        yield server


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def verifier(users: Upstream, clock: SteppedClock) -> TokenVerifier:
    verifier = remote_verifier(SETTINGS, users.url)
    verifier.clock = clock
    verifier.refresh_interval = INTERVAL
    return verifier


async def test_an_unknown_key_id_fetches_the_jwks_and_a_known_one_does_not(
    users: Upstream, verifier: TokenVerifier, clock: SteppedClock
) -> None:
    first = signing_key("k1")
    users.default = jwks(first)
    principal = await verifier.verify_async(token(first))
    assert principal.role == "customer"
    assert [(r.method, r.path) for r in users.requests] == [("GET", "/.well-known/jwks.json")]
    for _ in range(3):
        await verifier.verify_async(token(first))
    assert users.calls == 1
    clock.now += 10 * INTERVAL  # nothing holds a fetch back now: a known key still needs none
    await verifier.verify_async(token(first))
    assert users.calls == 1


async def test_a_rotated_key_is_learned_once_the_interval_has_passed(
    users: Upstream, verifier: TokenVerifier, clock: SteppedClock
) -> None:
    old, new = signing_key("k1"), signing_key("k2")
    users.default = jwks(old)
    await verifier.verify_async(token(old))
    users.default = jwks(old, new)  # the users service rotated its key
    clock.now += INTERVAL - 0.001
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify_async(token(new))
    assert users.calls == 1, "a successful fetch must hold back the next one"
    clock.now += 0.001
    assert (await verifier.verify_async(token(new))).role == "customer"
    assert users.calls == 2


async def test_only_a_successful_fetch_holds_back_the_next(
    users: Upstream, verifier: TokenVerifier
) -> None:
    key = signing_key("k1")
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify_async(token(key))  # the users service answers 503
    assert users.calls == 1
    users.answer_next(Answer(200, {"unexpected": "shape"}))
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify_async(token(key))  # a malformed answer is a failure too
    assert users.calls == 2
    users.default = jwks(key)
    # The clock has not moved: after failures the next unknown key fetches at once.
    assert (await verifier.verify_async(token(key))).role == "customer"
    assert users.calls == 3
    # And now that a fetch succeeded, a forged key id cannot make it fetch again.
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify_async(token(signing_key("forged")))
    assert users.calls == 3


async def test_concurrent_unknown_keys_fetch_once(users: Upstream, verifier: TokenVerifier) -> None:
    key = signing_key("k1")
    users.default = Answer(200, {"keys": [key.jwk()]}, delay=0.3)
    principals = await asyncio.gather(*(verifier.verify_async(token(key)) for _ in range(10)))
    assert {p.role for p in principals} == {"customer"}
    assert users.calls == 1


async def test_a_token_signed_by_another_key_under_a_known_id_is_refused(
    users: Upstream, verifier: TokenVerifier
) -> None:
    key, impostor = signing_key("k1"), signing_key("k1")
    users.default = jwks(key)
    await verifier.verify_async(token(key))
    with pytest.raises(Unauthorized, match="Invalid access token"):
        await verifier.verify_async(token(impostor))
    assert users.calls == 1


async def test_by_default_a_fetch_holds_back_the_next_for_ten_seconds(
    users: Upstream, clock: SteppedClock
) -> None:
    """The verifier as a service builds it, with only its clock given."""
    fetch = remote_verifier(SETTINGS, users.url).refresher
    verifier = TokenVerifier(
        issuer=SETTINGS.jwt_issuer, audience=SETTINGS.jwt_audience, refresher=fetch, clock=clock
    )
    first, second = signing_key("k1"), signing_key("k2")
    users.default = jwks(first, second)
    await verifier.verify_async(token(first))
    users.default = jwks(first, second, signing_key("k3"))
    clock.now += 9.999
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify_async(token(signing_key("k4")))
    assert users.calls == 1
    clock.now += 0.001
    await verifier.verify_async(token(second))  # known since the first fetch: no fetch
    assert users.calls == 1
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify_async(token(signing_key("k5")))
    assert users.calls == 2
