"""The ``ChatScript`` aggregate: one entry of the chat-script library (话术库).

A script is a reply or an SOP step for a scenario ("新客欢迎", "催付", "售后安抚" …),
with a title, a body and search keywords. Every edit is a new **content version**
(``Revised``); older versions stay readable in the history and the read model. An
archived script is no longer offered, its history stays. Scripts are brand content,
not personal data. Uses are recorded on the customer the script was used with
(``Customer.ScriptUsed``), not here: a popular script is not a hot stream.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, ScriptArchived
from domain.tag_group import check_label

BODY_MAX = 4000
MAX_KEYWORDS = 20
KINDS = frozenset({"script", "sop"})


def check_content(scenario: str, title: str, body: str, keywords: list[str], kind: str
                  ) -> tuple[str, str, str, list[str], str]:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {sorted(KINDS)}", field="kind")
    text = body.strip()
    if not 1 <= len(text) <= BODY_MAX:
        raise InvalidInput(f"body must be 1-{BODY_MAX} characters", field="body")
    words = list(dict.fromkeys(check_label(k, "keywords") for k in keywords))
    if len(words) > MAX_KEYWORDS:
        raise InvalidInput(f"at most {MAX_KEYWORDS} keywords", field="keywords")
    return check_label(scenario, "scenario"), check_label(title, "title"), text, words, kind


class ChatScript(Aggregate):
    class Event(Aggregate.Event):
        by: str
        occurred_at: datetime

    class Created(Aggregate.Created):
        scenario: str
        title: str
        body: str
        keywords: list[str]
        kind: str
        by: str
        occurred_at: datetime

    class Revised(Event):
        """A new content version (``content_version``) replaces the current one."""

        content_version: int
        scenario: str
        title: str
        body: str
        keywords: list[str]

    class Archived(Event):
        """No longer offered to staff; its versions stay readable."""

    @classmethod
    def create(cls, scenario: str, title: str, body: str, keywords: list[str], kind: str,
               by: str, occurred_at: datetime) -> ChatScript:
        s, t, b, k, kind = check_content(scenario, title, body, keywords, kind)
        return cls(scenario=s, title=t, body=b, keywords=k, kind=kind, by=by,
                   occurred_at=occurred_at)

    @event(Created)
    def __init__(self, scenario: str, title: str, body: str, keywords: list[str], kind: str,
                 by: str, occurred_at: datetime) -> None:
        self.scenario, self.title, self.body = scenario, title, body
        self.keywords = list(keywords)
        self.kind = kind
        self.content_version = 1
        self.archived = False

    def revise(self, scenario: str, title: str, body: str, keywords: list[str], by: str,
               occurred_at: datetime) -> bool:
        """A new version if anything changed; False (no event) otherwise."""
        if self.archived:
            raise ScriptArchived("the script is archived", field="scriptId")
        s, t, b, k, _ = check_content(scenario, title, body, keywords, self.kind)
        if (s, t, b, k) == (self.scenario, self.title, self.body, self.keywords):
            return False
        self._revise(content_version=self.content_version + 1, scenario=s, title=t, body=b,
                     keywords=k, by=by, occurred_at=occurred_at)
        return True

    def archive(self, by: str, occurred_at: datetime) -> bool:
        if self.archived:
            return False
        self._archive(by=by, occurred_at=occurred_at)
        return True

    @event(Revised)
    def _revise(self, content_version: int, scenario: str, title: str, body: str,
                keywords: list[str], by: str, occurred_at: datetime) -> None:
        self.content_version = content_version
        self.scenario, self.title, self.body = scenario, title, body
        self.keywords = list(keywords)

    @event(Archived)
    def _archive(self, by: str, occurred_at: datetime) -> None:
        self.archived = True
