"""The users service's use cases on fakes: the events they publish, roles, session rotation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from panthera.contracts.users import UserDeleted, UserRegistered, UserUpdated
from panthera.kernel.auth.principals import Principal
from panthera.kernel.errors import Conflict, Forbidden, NotFound, Unauthorized
from panthera.kernel.fakes import FakeUnitOfWork
from panthera.services.users import service
from panthera.services.users.repository import UsersTx
from panthera.services.users.schemas import UserCreateRequest, UserUpdateRequest
from panthera.services.users.service import UsersRuntime
from tests.conftest import STRONG_PASSWORD
from tests.services.users.fakes import FakeRefreshTokens, FakeUsers, runtime


@dataclass
class Users:
    rt: UsersRuntime
    uow: FakeUnitOfWork[UsersTx]
    users: FakeUsers
    tokens: FakeRefreshTokens


@pytest.fixture
def u(tmp_path: Path) -> Users:
    users, tokens = FakeUsers(), FakeRefreshTokens()
    rt, uow = runtime(tmp_path, users, tokens)
    return Users(rt, uow, users, tokens)


def sign_up_data(name: str = "alice", **fields: object) -> UserCreateRequest:
    return UserCreateRequest.model_validate(
        {"username": name, "email": f"{name}@Example.com", "password": STRONG_PASSWORD, **fields}
    )


async def test_sign_up_publishes_the_profile_and_never_a_secret(u: Users) -> None:
    user = await service.create(
        rt=u.rt, data=sign_up_data(firstName="Alice", phone="+15551234567"), actor=None
    )
    assert (user.email, user.role) == ("alice@example.com", "customer")
    assert user.password_hash.startswith("$argon2id$")
    [data] = u.uow.of_type(UserRegistered)
    assert data == {
        "userId": str(user.id),
        "username": "alice",
        "email": "alice@example.com",
        "firstName": "Alice",
        "lastName": None,
        "phone": "+15551234567",
        "role": "customer",
    }
    [event] = u.uow.published
    assert (event.subject, event.source, event.version) == (str(user.id), "users", 1)


async def test_only_an_admin_may_create_an_admin(u: Users) -> None:
    with pytest.raises(Forbidden):
        await service.create(rt=u.rt, data=sign_up_data(role="admin"), actor=None)
    customer = Principal(user_id=uuid.uuid4(), role="customer")
    with pytest.raises(Forbidden):
        await service.create(rt=u.rt, data=sign_up_data(role="admin"), actor=customer)
    assert u.users.rows == {} and u.uow.published == []
    admin = Principal(user_id=uuid.uuid4(), role="admin")
    created = await service.create(rt=u.rt, data=sign_up_data(role="admin"), actor=admin)
    assert created.role == "admin"
    assert u.uow.of_type(UserRegistered)[0]["role"] == "admin"


async def test_a_taken_name_or_email_is_a_conflict_that_publishes_nothing(u: Users) -> None:
    await service.create(rt=u.rt, data=sign_up_data("alice"), actor=None)
    with pytest.raises(Conflict, match="email"):
        await service.create(
            rt=u.rt, data=sign_up_data("alice2", email="ALICE@example.com"), actor=None
        )
    with pytest.raises(Conflict, match="username"):
        await service.create(
            rt=u.rt, data=sign_up_data("ALICE", email="a2@example.com"), actor=None
        )
    assert len(u.users.rows) == 1
    assert len(u.uow.published) == 1
    assert u.uow.rollbacks == 2


async def test_an_update_publishes_the_values_after_it_and_nothing_when_empty(u: Users) -> None:
    user = await service.create(rt=u.rt, data=sign_up_data(), actor=None)
    me = Principal(user_id=user.id, role="customer")
    await service.update(
        rt=u.rt,
        user_id=user.id,
        data=UserUpdateRequest.model_validate({"lastName": "Liddell", "email": "A@New.example"}),
        actor=me,
    )
    [data] = u.uow.of_type(UserUpdated)
    assert (data["lastName"], data["email"], data["username"]) == (
        "Liddell",
        "a@new.example",
        "alice",
    )
    await service.update(
        rt=u.rt, user_id=user.id, data=UserUpdateRequest.model_validate({}), actor=me
    )
    assert len(u.uow.of_type(UserUpdated)) == 1


async def test_nobody_raises_their_own_role_or_touches_another_profile(u: Users) -> None:
    alice = await service.create(rt=u.rt, data=sign_up_data("alice"), actor=None)
    bob = await service.create(rt=u.rt, data=sign_up_data("bob"), actor=None)
    as_alice = Principal(user_id=alice.id, role="customer")
    with pytest.raises(Forbidden):
        await service.update(
            rt=u.rt,
            user_id=alice.id,
            data=UserUpdateRequest.model_validate({"role": "admin"}),
            actor=as_alice,
        )
    for target in (bob.id, uuid.uuid4()):
        with pytest.raises(Forbidden):
            await service.get(rt=u.rt, user_id=target, actor=as_alice)
        with pytest.raises(Forbidden):
            await service.delete(rt=u.rt, user_id=target, actor=as_alice)
    assert (alice.role, u.uow.of_type(UserUpdated), u.uow.of_type(UserDeleted)) == (
        "customer",
        [],
        [],
    )
    admin = Principal(user_id=uuid.uuid4(), role="admin")
    with pytest.raises(NotFound):
        await service.get(rt=u.rt, user_id=uuid.uuid4(), actor=admin)


async def test_deleting_an_account_ends_its_sessions_and_publishes_the_deletion(u: Users) -> None:
    user = await service.create(rt=u.rt, data=sign_up_data(), actor=None)
    await service.login(
        rt=u.rt, email="alice@example.com", password=STRONG_PASSWORD, client="198.51.100.1"
    )
    await service.delete(
        rt=u.rt, user_id=user.id, actor=Principal(user_id=user.id, role="customer")
    )
    assert u.uow.of_type(UserDeleted) == [{"userId": str(user.id)}]
    assert u.users.rows == {}


async def test_wrong_credentials_get_one_answer(u: Users) -> None:
    await service.create(rt=u.rt, data=sign_up_data(), actor=None)
    for email, password in (("alice@example.com", "Wrong-password1"), ("nobody@x.io", "Pw-12345")):
        with pytest.raises(Unauthorized, match="Invalid email or password"):
            await service.login(rt=u.rt, email=email, password=password, client="198.51.100.1")
    assert u.tokens.rows == {}


async def test_refresh_rotates_and_a_reused_token_revokes_its_whole_family(u: Users) -> None:
    user = await service.create(rt=u.rt, data=sign_up_data(), actor=None)
    first = await service.login(
        rt=u.rt, email="ALICE@example.com", password=STRONG_PASSWORD, client="198.51.100.1"
    )
    other_login = await service.login(
        rt=u.rt, email="alice@example.com", password=STRONG_PASSWORD, client="198.51.100.1"
    )
    second = await service.refresh(rt=u.rt, refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.user.id == user.id

    commits = u.uow.commits
    with pytest.raises(Unauthorized, match="already used"):
        await service.refresh(rt=u.rt, refresh_token=first.refresh_token)
    # The revocation was committed although the caller was refused.
    assert u.uow.commits == commits + 1
    with pytest.raises(Unauthorized):
        await service.refresh(rt=u.rt, refresh_token=second.refresh_token)
    # Another login of the same user is another family: untouched.
    third = await service.refresh(rt=u.rt, refresh_token=other_login.refresh_token)
    assert third.user.id == user.id
    revoked = [t for t in u.tokens.of(user.id) if t.revoked_at is not None]
    assert len(revoked) == 2


async def test_logout_ends_the_family_and_a_second_logout_is_refused(u: Users) -> None:
    await service.create(rt=u.rt, data=sign_up_data(), actor=None)
    session = await service.login(
        rt=u.rt, email="alice@example.com", password=STRONG_PASSWORD, client="198.51.100.1"
    )
    await service.logout(rt=u.rt, refresh_token=session.refresh_token)
    with pytest.raises(Unauthorized):
        await service.logout(rt=u.rt, refresh_token=session.refresh_token)
    with pytest.raises(Unauthorized):
        await service.refresh(rt=u.rt, refresh_token=session.refresh_token)


async def test_ensure_admin_creates_once(u: Users) -> None:
    admin, created = await service.ensure_admin(
        rt=u.rt, email="Root@Example.com", password=STRONG_PASSWORD
    )
    assert (admin.username, admin.email, admin.role, created) == (
        "Root",
        "root@example.com",
        "admin",
        True,
    )
    again, created = await service.ensure_admin(
        rt=u.rt, email="root@example.com", password=STRONG_PASSWORD
    )
    assert (again.id, created) == (admin.id, False)
    assert len(u.uow.of_type(UserRegistered)) == 1
