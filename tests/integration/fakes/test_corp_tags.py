"""The fake's corp tag library behaves as WeCom's 「管理企业标签」 page documents, seen through
the platform's client (:class:`adapters.corp_tags.WeComCorpTags`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.contact_ways import Answer
from adapters.corp_tags import TagAnswer, WeComCorpTags
from fakes.wecom import FAKE_CORP_ID, FAKE_CORP_SECRET, RunningFakeWeCom

pytestmark = pytest.mark.integration


@pytest.fixture
def client(fake_wecom: RunningFakeWeCom) -> Iterator[WeComCorpTags]:
    tags = WeComCorpTags(fake_wecom.url, FAKE_CORP_ID, FAKE_CORP_SECRET)
    yield tags
    tags.close()


def names(answer: TagAnswer) -> list[tuple[str, str]]:
    return [(t.group_name, t.name) for t in answer.tags]


def test_tags_added_by_group_name_are_listed_in_their_group_larger_order_first(
        client: WeComCorpTags) -> None:
    # Given a group 客户等级 with A and B, and a group 兴趣 added later with a larger order
    grade = client.add(["A", "B"], group_name="客户等级", order=1)
    assert grade.answer is Answer.DONE and names(grade) == [("客户等级", "A"), ("客户等级", "B")]
    client.add(["美妆"], group_name="兴趣", order=5)
    # When C is added by the existing group's name (not a new group)
    more = client.add(["C", "C"], group_name="客户等级")
    # Then it joins that group, once although named twice
    assert names(more) == [("客户等级", "C")]
    assert more.tags[0].group_id == grade.tags[0].group_id
    # And the listing answers 兴趣 first (order 5), then 客户等级's tags
    assert names(client.listing()) == [("兴趣", "美妆"), ("客户等级", "A"), ("客户等级", "B"),
                                       ("客户等级", "C")]


def test_a_tag_name_the_group_has_and_a_name_over_30_characters_are_refused(
        client: WeComCorpTags) -> None:
    client.add(["A"], group_name="客户等级")
    assert client.add(["A"], group_name="客户等级").reason == "errcode 40071"
    assert client.add(["x" * 31], group_name="客户等级").reason == "errcode 40072"
    assert client.add([], group_name="空组").reason == "errcode 40058"  # no empty group
    assert client.add(["A"], group_id="etunknown").reason == "errcode 40068"
    assert names(client.listing()) == [("客户等级", "A")]


def test_filters_by_group_id_win_over_tag_id_and_deleted_tags_show_only_by_tag_id(
        fake_wecom: RunningFakeWeCom, client: WeComCorpTags) -> None:
    a, b = client.add(["A", "B"], group_name="客户等级").tags
    other = client.add(["美妆"], group_name="兴趣").tags[0]
    # When B is deleted
    assert client.delete(tag_ids=[b.tag_id]).answer is Answer.DONE
    # Then the full listing and a query by its group leave it out
    assert names(client.listing()) == [("客户等级", "A"), ("兴趣", "美妆")]
    assert names(client.listing(group_ids=[b.group_id])) == [("客户等级", "A")]
    # And a query by its tag_id answers it, deleted (the only query with the flag)
    named = client.listing(tag_ids=[b.tag_id])
    assert [(t.name, t.deleted) for t in named.tags] == [("B", True)]
    token = httpx.get(f"{fake_wecom.url}/cgi-bin/gettoken", params={
        "corpid": FAKE_CORP_ID, "corpsecret": FAKE_CORP_SECRET}).json()["access_token"]
    raw = httpx.post(f"{fake_wecom.url}/cgi-bin/externalcontact/get_corp_tag_list",
                     params={"access_token": token}, json={}).json()["tag_group"]
    assert all("deleted" not in g and all("deleted" not in t for t in g["tag"]) for g in raw)
    # And group_id wins over tag_id
    by_group = client.listing(tag_ids=[a.tag_id], group_ids=[other.group_id])
    assert names(by_group) == [("兴趣", "美妆")]


def test_renaming_into_a_taken_name_is_refused_and_a_group_goes_with_its_last_tag(
        client: WeComCorpTags) -> None:
    a, b = client.add(["A", "B"], group_name="客户等级").tags
    other = client.add(["美妆"], group_name="兴趣").tags[0]
    assert client.edit(b.tag_id, name="A").reason == "errcode 40071"
    assert client.edit(other.group_id, name="客户等级").reason == "errcode 40071"
    assert client.edit(a.group_id, name="会员等级").answer is Answer.DONE
    assert client.edit("etunknown", name="X").reason == "errcode 40068"
    # When 美妆, the last tag of 兴趣, is deleted, the group is deleted with it
    client.delete(tag_ids=[other.tag_id])
    assert client.listing(group_ids=[other.group_id]).tags == ()
    assert [t.deleted for t in client.listing(tag_ids=[other.tag_id]).tags] == [True]
    assert names(client.listing()) == [("会员等级", "A"), ("会员等级", "B")]
    # And a delete naming nothing, or an unknown id, deletes nothing
    assert client.delete().reason == "errcode 40058"
    assert client.delete(tag_ids=[a.tag_id, "etunknown"]).reason == "errcode 40068"
    assert len(client.listing().tags) == 2


def test_every_call_needs_a_live_token_and_faults_are_answered(
        fake_wecom: RunningFakeWeCom, client: WeComCorpTags) -> None:
    reply = httpx.post(f"{fake_wecom.url}/cgi-bin/externalcontact/get_corp_tag_list"
                       "?access_token=forged", json={})
    assert reply.json()["errcode"] == 40014
    fake_wecom.state.corp_tags.inject("busy")
    assert client.listing().answer is Answer.RETRY
    fake_wecom.state.corp_tags.inject("lost_reply")
    assert client.add(["A"], group_name="客户等级").answer is Answer.UNKNOWN
    assert names(client.listing()) == [("客户等级", "A")]  # applied before the reply was lost
