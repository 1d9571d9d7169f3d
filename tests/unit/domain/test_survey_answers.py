"""SURVEY_ANSWERED: a CSAT (1-5) or NPS (0-10) score about a staff member's service."""

from __future__ import annotations

from datetime import datetime

from application.app import Siyu
from domain.customer import Customer
from domain.ingestion import EventItem

WECOM = ("wecom_external:ww1", "wmCustomer1")
STAFF = "5f904020-9939-4c13-bb15-b374ca2d40c1"


def test_a_survey_answer_is_recorded_with_its_kind_score_and_staff_member(
    memory_app: Siyu, now: datetime
) -> None:
    result = memory_app.ingestion.record_batch([
        EventItem("a", "SURVEY_ANSWERED", WECOM, now, survey_kind="NPS", score=9,
                  staff_id=STAFF),
        EventItem("b", "SURVEY_ANSWERED", WECOM, now, survey_kind="csat", score=1)],
        "service:test")
    assert result.count("accepted") == 2
    events = [memory_app.mapper.to_domain_event(n)
              for n in memory_app.recorder.select_notifications(start=1, limit=100)]
    answers = [e for e in events if isinstance(e, Customer.SurveyAnswered)]
    assert [(e.survey_kind, e.score, e.staff_id, e.occurred_at) for e in answers] == [
        ("nps", 9, STAFF, now), ("csat", 1, None, now)]


def test_scores_outside_the_kinds_range_and_unknown_kinds_are_refused(
    memory_app: Siyu, now: datetime
) -> None:
    items = [EventItem("a", "SURVEY_ANSWERED", WECOM, now, survey_kind="CSAT", score=0),
             EventItem("b", "SURVEY_ANSWERED", WECOM, now, survey_kind="NPS", score=11),
             EventItem("c", "SURVEY_ANSWERED", WECOM, now, survey_kind="CES", score=3),
             EventItem("d", "SURVEY_ANSWERED", WECOM, now, survey_kind="NPS"),
             EventItem("e", "SURVEY_ANSWERED", WECOM, now, survey_kind="NPS", score=5,
                       staff_id="Zhang San")]
    result = memory_app.ingestion.record_batch(items, "service:test")
    assert [(o.error.code, o.error.field) for o in result.outcomes if o.error] == [
        ("INVALID_INPUT", "score"), ("INVALID_INPUT", "score"), ("INVALID_INPUT", "surveyKind"),
        ("MISSING_FIELD", "score"), ("INVALID_INPUT", "staffId")]
