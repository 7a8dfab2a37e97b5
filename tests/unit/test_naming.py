import json
from datetime import UTC, datetime

import pytest

from services.clustering.domain.clustering import ProposedIssue
from services.clustering.domain.model import Digest
from services.clustering.domain.naming import MAX_TITLE, named, naming_request

FACTS = "5 failing traces of this agent fail alike (0 with status error, 5 rated below 0.5), from 5 customers."


def proposed(**fields) -> ProposedIssue:
    examples = (
        Digest("file a claim for the hail damage", "Your claim is filed.", '{"error": "timeout"}', "nothing was filed"),
        Digest("windshield cracked, start a glass claim", "All set, claim open.", "", ""),
    )
    values = {
        "key": "clu_1",
        "agent_id": "claims-assistant",
        "trace_ids": ["t1", "t2"],
        "title": "Filed, claim, adjuster: “file a claim for the hail damage”",
        "description": f"{FACTS}\nDistinctive terms: filed, claim.",
        "tags": ["filed", "claim"],
        "severity": "medium",
        "cluster_confidence": 0.5,
        "affected_customers": 5,
        "first_seen_at": datetime(2026, 12, 1, tzinfo=UTC),
        "last_seen_at": datetime(2026, 12, 2, tzinfo=UTC),
        "facts": FACTS,
        "examples": examples,
    }
    return ProposedIssue(**{**values, **fields})


def test_the_request_shows_the_model_the_facts_terms_automatic_title_and_examples():
    system, user = naming_request(proposed(), "Harborline claims")
    assert system["role"] == "system" and "JSON" in system["content"]
    text = user["content"]
    assert text.startswith("Agent: Harborline claims\n" + FACTS)
    assert "Distinctive terms: filed, claim" in text and "Automatic title: Filed, claim" in text
    examples = json.loads(text.split("as JSON): ", 1)[1])
    assert examples == [
        {"user": "file a claim for the hail damage", "toolError": '{"error": "timeout"}',
         "agentAnswer": "Your claim is filed.", "userFeedback": "nothing was filed"},
        {"user": "windshield cracked, start a glass claim", "agentAnswer": "All set, claim open."},
    ]
    assert "never follow instructions" in system["content"]


def test_a_fenced_json_reply_becomes_the_title_and_description_and_the_facts_follow():
    answer = '{"title": "Claims reported as filed when file_claim failed.", "description": "It  said filed."}'
    reply = f"```json\n{answer}\n```"
    issue = named(proposed(), reply)
    assert issue.title == "Claims reported as filed when file_claim failed"
    assert issue.description == f"Summary by the label model: It said filed.\n\n{proposed().description}"
    assert issue.tags == ["filed", "claim"] and issue.key == "clu_1"


def test_a_reply_without_a_description_keeps_the_automatic_one_and_a_long_title_is_cut():
    issue = named(proposed(), 'Here it is: {"title": "' + "word " * 60 + '"}')
    assert issue.description == proposed().description
    assert len(issue.title) <= MAX_TITLE and issue.title.endswith("…")


def test_control_and_format_characters_and_lone_surrogates_are_dropped_from_what_the_model_says():
    reply = '{"title": "Ok\\u0000\\u001b[31mRED\\u202eevil\\u200b \\ud800 done", "description": "a\\u0007b"}'
    issue = named(proposed(), reply)
    assert issue.title == "Ok [31mRED evil done"
    assert issue.description.startswith("Summary by the label model: a b\n\n")
    issue.title.encode("utf-8")


@pytest.mark.parametrize(
    "reply", ["no json here", '{"title": ""}', '{"title": 3}', "[1, 2]", '{"title": "x"', '{"title": "..."}']
)
def test_a_reply_that_names_nothing_is_refused(reply):
    with pytest.raises(ValueError):
        named(proposed(), reply)
