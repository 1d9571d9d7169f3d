"""Upcasts of ``Customer`` snapshots taken by earlier class versions (the library calls
``Customer.upcast_v<N>_v<N+1>`` on a snapshot's state, one version at a time).

v2 added points, coupons, placed orders, DND, consents, accounts, referrer; v3 added merges
(OneID), v4 the owner (the staff member in charge), v5 the referral's campaign and time (a
referral campaign may reward the invitee's first order), v6 erasure (PIPL).
"""

from __future__ import annotations

from typing import Any


def v1_v2(state: dict[str, Any]) -> None:
    state.update(placed={}, coupons={}, points=0, dnd=False, consents={}, accounts=[],
                 member_level=None, referred_by=None)


def v2_v3(state: dict[str, Any]) -> None:
    state.update(merged_into=None, absorbed={})


def v3_v4(state: dict[str, Any]) -> None:
    state.update(owner=None, owner_before_merge=None)


def v4_v5(state: dict[str, Any]) -> None:
    state.update(referred_in=None, referred_at=None)


def v5_v6(state: dict[str, Any]) -> None:
    state.update(erased=False)
