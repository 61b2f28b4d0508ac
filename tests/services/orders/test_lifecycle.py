"""The order state machine."""

from __future__ import annotations

import pytest

from panthera.kernel.errors import Conflict
from panthera.services.orders import lifecycle

ALLOWED = {
    ("pending", "confirmed"),
    ("pending", "rejected"),
    ("pending", "cancelled"),
    ("confirmed", "shipped"),
    ("confirmed", "cancelled"),
    ("shipped", "delivered"),
}


@pytest.mark.parametrize("current", lifecycle.STATUSES)
@pytest.mark.parametrize("target", lifecycle.STATUSES)
def test_only_the_documented_transitions_are_allowed(current: str, target: str) -> None:
    assert lifecycle.can_move(current, target) == ((current, target) in ALLOWED)


def test_final_states_have_no_way_out() -> None:
    for final in lifecycle.FINAL:
        assert not any(lifecycle.can_move(final, target) for target in lifecycle.STATUSES)


def test_an_illegal_transition_is_a_conflict_naming_the_current_state() -> None:
    with pytest.raises(Conflict) as raised:
        lifecycle.ensure_can_move("shipped", "cancelled")
    assert raised.value.extra == {"currentStatus": "shipped"}


def test_sources_of_a_status() -> None:
    assert lifecycle.sources_of("cancelled") == {"pending", "confirmed"}
    assert lifecycle.sources_of("delivered") == {"shipped"}
