"""Customer events of growth and of the relationship with the brand and its staff:
channel codes, referrals, official accounts, membership, WeCom and personal-WeChat
friendship, the owner, do-not-disturb and consent.

Each is ``Customer.<Name>`` by topic and by name (see :func:`domain.customer_state.customer_event`).
"""

from __future__ import annotations

from domain.customer_state import MERGED, UNMERGED, CustomerEvent, CustomerFact, CustomerState, customer_event


# -- growth -----------------------------------------------------------------
@customer_event
class ChannelCodeScanned(CustomerFact):
    state: str
    channel: str


@customer_event
class Referred(CustomerEvent):
    """This customer was brought by ``inviter_id`` (裂变)."""

    inviter_id: str
    campaign_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.referred_by = self.inviter_id
        customer.referred_in = self.campaign_id
        customer.referred_at = self.occurred_at


@customer_event
class ReferralBrought(CustomerFact):
    """This customer brought ``invitee_id``: spreading power."""

    invitee_id: str
    campaign_id: str


@customer_event
class OfficialAccountFollowed(CustomerEvent):
    account_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.accounts.append(self.account_id)


@customer_event
class OfficialAccountUnfollowed(CustomerEvent):
    account_id: str

    def apply(self, customer: CustomerState) -> None:
        customer.accounts.remove(self.account_id)


@customer_event
class MemberRegistered(CustomerEvent):
    member_level: str

    def apply(self, customer: CustomerState) -> None:
        customer.member_level = self.member_level

# -- relationship with staff ------------------------------------------------
@customer_event
class FriendAdded(CustomerEvent):
    staff_id: str
    channel: str
    state: str | None
    welcome_code: str | None

    def apply(self, customer: CustomerState) -> None:
        customer.friends[self.staff_id] = self.occurred_at


@customer_event
class HalfFriendAdded(CustomerFact):
    """The customer added the staff member, who has not accepted yet (WeCom)."""

    staff_id: str
    state: str | None
    welcome_code: str | None


@customer_event
class FriendEdited(CustomerFact):
    """The staff member edited the contact's remark or description (no content kept)."""

    staff_id: str


@customer_event
class FriendDeleted(CustomerEvent):
    staff_id: str
    deleted_by: str

    def apply(self, customer: CustomerState) -> None:
        customer.friends.pop(self.staff_id, None)


@customer_event
class OwnerChanged(CustomerEvent):
    """The staff member in charge of the customer changed (``staff_id`` None: nobody).

    ``reason``: ``first_friend`` (the first staff member to add the customer),
    ``resignation`` / ``reassignment`` (a handover, 离职继承 / 在职继承, with its
    ``handover_id``), ``merged`` (OneID: the absorbed customer's period ends, the
    survivor inherits the owner if it had none) or ``unmerged`` (the owner returns).
    """

    previous_staff_id: str | None
    staff_id: str | None
    reason: str
    handover_id: str | None

    def apply(self, customer: CustomerState) -> None:
        if self.reason == MERGED and self.staff_id is None:
            customer.owner_before_merge = self.previous_staff_id
        elif self.reason == UNMERGED:
            customer.owner_before_merge = None
        customer.owner = self.staff_id


@customer_event
class TransferFailed(CustomerFact):
    """A handover of this customer to ``staff_id`` failed (离职/在职继承)."""

    staff_id: str
    reason: str


@customer_event
class StaffMuted(CustomerFact):
    """The customer muted (blocked moments or messages of) the staff member."""

    staff_id: str


@customer_event
class PersonalWeChatFriendAdded(CustomerFact):
    """The customer is a friend of the staff member's personal WeChat account (个微), as
    reported by the brand's tooling (personal WeChat has no official API)."""

    staff_id: str


@customer_event
class PersonalWeChatFriendDeleted(CustomerFact):
    """The customer is no longer a friend of the staff member's personal WeChat."""

    staff_id: str


@customer_event
class DoNotDisturbSet(CustomerEvent):
    def apply(self, customer: CustomerState) -> None:
        customer.dnd = True


@customer_event
class DoNotDisturbCleared(CustomerEvent):
    def apply(self, customer: CustomerState) -> None:
        customer.dnd = False


@customer_event
class ConsentGiven(CustomerEvent):
    purpose: str
    wording_version: str

    def apply(self, customer: CustomerState) -> None:
        customer.consents[self.purpose] = self.wording_version


@customer_event
class ConsentWithdrawn(CustomerEvent):
    purpose: str

    def apply(self, customer: CustomerState) -> None:
        customer.consents.pop(self.purpose, None)
