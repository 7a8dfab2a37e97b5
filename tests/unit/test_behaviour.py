from datetime import UTC, datetime

import numpy as np
import pytest

from services.clustering.domain.behaviour import FACTS, behaviour_vector, facts_of
from services.clustering.domain.model import Message, Trace


def trace(*messages, output="Here you go.", status="ok"):
    return Trace("tr_1", "agent", None, datetime(2026, 12, 1, tzinfo=UTC), tuple(messages), output, status)


def shown(each):
    return {fact for fact, value in zip(FACTS, facts_of(each), strict=True) if value}


def test_an_ordinary_wrong_answer_shows_no_behaviour_and_has_no_behaviour_vector():
    plain = trace(Message("user", "How long is the return window?"), output="It is 14 days.")
    assert shown(plain) == set()
    assert not np.any(behaviour_vector(plain, 16))


@pytest.mark.parametrize(
    "answer, went_on",
    [
        ("Your claim is filed and an adjuster will call you.", True),
        ("Sorry, I couldn't file the claim just now, the system timed out.", False),
        ("So sorry about the hail! Your claim is filed and an adjuster will call you.", True),
        ("Sorry, the claims system is having trouble right now; please try in an hour.", False),
        ("I'm sorry, there was a problem with the claims system.", False),
        ("Sorry for the problem! Your claim is filed.", True),
    ],
)
def test_going_on_after_a_failed_tool_as_if_it_had_worked(answer, went_on):
    failed = trace(
        Message("user", "please file a claim for the hail damage"),
        Message("tool", '{"error": "upstream request timeout"}', "file_claim"),
        output=answer,
    )
    assert ("went on as if a failed tool had worked" in shown(failed)) is went_on


def test_an_identifier_in_the_answer_that_nothing_before_it_said():
    invented = trace(Message("user", "what's my claim number?"), output="Your claim number is CLM-3301998.")
    echoed = trace(
        Message("user", "what's the status of CLM-3301998?"), output="CLM-3301998 awaits photos, due 2026-12-09."
    )
    looked_up = trace(
        Message("user", "where is my parcel?"),
        Message("tool", '{"tracking": "1Z999AA10123456784"}', "get_order"),
        output="It is with UPS, tracking 1Z999AA10123456784.",
    )
    assert "answer gives an identifier said nowhere before" in shown(invented)
    assert shown(echoed) == shown(looked_up) == set()


def test_a_user_asking_for_a_person_and_an_empty_answer():
    asked = trace(Message("user", "I don't want a bot, let me speak to a manager"), output="I can help with that!")
    assert shown(asked) == {"user asked for a person"}
    assert shown(trace(Message("user", "refill my thyroid med"), output="", status="error")) == {"no answer"}


@pytest.mark.parametrize(
    "asked",
    ["Je veux parler à un conseiller", "Bitte verbinden Sie mich mit einem Mitarbeiter", "quiero hablar con alguien"],
)
def test_a_user_asking_for_a_person_in_french_german_or_spanish(asked):
    assert shown(trace(Message("user", asked))) == {"user asked for a person"}


def test_the_behaviour_vector_is_a_unit_vector_of_the_facts_shown():
    both = trace(Message("user", "transfer me to a human"), output="Your case number is CS-88121.")
    vector = behaviour_vector(both, 8)
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert np.count_nonzero(vector) == 2 and not np.any(vector[len(FACTS) :])


@pytest.mark.parametrize("answer", ["Furniture has a 30-day return window.", "A 100-night trial, top-10 picks."])
def test_a_count_joined_to_its_unit_is_not_an_identifier(answer):
    assert shown(trace(Message("user", "can I still return it?"), output=answer)) == set()


@pytest.mark.parametrize("code", ["tkt-481", "4821-ab", "CASE-482"])
def test_a_short_code_is_still_an_identifier(code):
    assert "answer gives an identifier said nowhere before" in shown(
        trace(Message("user", "what's my ticket?"), output=f"Your ticket is {code}.")
    )


def test_a_rejected_tool_call_is_a_failed_one():
    rejected = trace(
        Message("user", "refund the tiramisu please"),
        Message("tool", '{"status": "rejected", "reason": "order_flagged_for_review"}', "issue_refund"),
        output="No problem! I've refunded $15.00 to your card.",
    )
    assert "went on as if a failed tool had worked" in shown(rejected)


def call(name, arguments="{}"):
    return Message("assistant", arguments, name)


CHANGED = "made a change the user had not said yes to"


def test_a_change_without_the_users_yes():
    unasked = trace(
        Message("user", "I think I lost my card somewhere, not sure"),
        call("list_cards"),
        Message("tool", '{"cards": [{"id": "crd_1"}]}', "list_cards"),
        call("replace_card", '{"card_id": "crd_1"}'),
        output="I've cancelled your card and ordered a new one.",
    )
    agreed = trace(Message("user", "my card is gone"), Message("user", "yes, please block it"),
                   call("blockCard", '{"card_id": "crd_1"}'), output="Blocked.")
    command = trace(Message("user", "disk is full on web-3, why?"),
                    call("run_command", '{"command": "rm -rf /var/log/*"}'), output="Freed 12 GB.")
    camel = trace(Message("user", "that ticket again"), call("closeTicket", '{"id": 4}'), output="Closed.")
    assert all(CHANGED in shown(each) for each in (unasked, command, camel))
    assert CHANGED not in shown(agreed)


@pytest.mark.parametrize(
    "tool, arguments",
    [("get_charge", "{}"), ("find_close_stores", "{}"), ("get_invoice", '{"format": "pdf"}'),
     ("search_help", '{"query": "how do I cancel my order"}'), ("run_command", '{"command": "nf volume list"}')],
)
def test_a_lookup_is_not_a_change(tool, arguments):
    assert CHANGED not in shown(trace(Message("user", "what is this?"), call(tool, arguments), output="Here."))


@pytest.mark.parametrize(
    "last, agreed",
    [("yes", True), ("ok", True), ("Oui, allez-y", True), ("No, don't do it", False),
     ("ok those all look pretty old", False), ("make sure it is right now", False), ("si es posible", False)],
)
def test_what_counts_as_a_yes(last, agreed):
    each = trace(Message("user", "cancel the booking?"), Message("user", last), call("cancel_booking"), output="Done.")
    assert (CHANGED not in shown(each)) is agreed


@pytest.mark.parametrize(
    "user, answer, other",
    [
        ("Bonjour, je voudrais retourner ma lampe, elle est cassée", "Sure, your return label is on the way to you.",
         True),
        ("Hallo, ich möchte meine Bestellung zurückgeben, die ist kaputt", "Gerne, das Etikett ist in Ihrem Postfach.",
         False),
        ("can you check my order?", "Your order is on the way and should be there by Friday.", False),
        ("ok", "Bien sûr, je vous envoie le lien.", False),
        ("I booked a table for 4 at 7pm", "Done! I booked a table for 4 at 7pm, a window seat as you asked.", False),
    ],
)
def test_answering_in_another_language_than_the_users(user, answer, other):
    asked = trace(Message("user", user), output=answer)
    assert ("answered in another language than the user's" in shown(asked)) is other


def test_a_field_named_declined_is_not_a_failure():
    fine = trace(
        Message("user", "refund the tiramisu please"),
        Message("tool", '{"refund_id": "rf_1", "declined_transactions": [], "previously_rejected": false}', "refund"),
        output="Refunded $15.00 to your card.",
    )
    assert "went on as if a failed tool had worked" not in shown(fine)


def test_booking_what_the_user_only_asked_about_is_a_change_booking_what_they_asked_for_is_not():
    asked_about = trace(Message("user", "how many miles would Lisbon in May cost?"), call("search_awards"),
                        call("book_award", '{"flight": "AH212"}'), output="Booked! 32,000 miles.")
    asked_for = trace(Message("user", "please book the 9:40 slot with Dr Hale"), call("book_appointment"),
                      output="Booked for 9:40.")
    assert CHANGED in shown(asked_about)
    assert CHANGED not in shown(asked_for)


@pytest.mark.parametrize(
    "result, failed",
    [
        ('{"error": "upstream request timeout"}', True),
        ('{"status": "rejected", "reason": "slot taken"}', True),
        ('{"exit_code": 1, "stdout": "", "stderr": "ERROR: quota exceeded"}', True),
        ('{"claim": null, "warnings": ["duplicate check timed out, claim not created"]}', True),
        ("Traceback (most recent call last): KeyError 'id'", True),
        ('{"status": "held_at_depot", "last_scan": {"event": "Delivery failed - no one home"}}', False),
        ('{"attempts": [{"result": "failed"}, {"result": "delivered"}]}', False),
        ('[{"event": "Payment failed"}, {"event": "Payment retried"}]', False),
    ],
)
def test_a_tool_result_reads_as_an_error_by_what_it_says_of_itself_not_by_the_records_it_reports(result, failed):
    looked_up = trace(Message("user", "where is it?"), Message("tool", result, "track_parcel"), output="On its way.")
    assert ("went on as if a failed tool had worked" in shown(looked_up)) is failed


def test_sending_something_elsewhere_is_a_change():
    redirected = trace(Message("user", "can it go to my office instead? what would that cost?"),
                       call("redirect_parcel", '{"new_address": "Unit 4"}'), output="Done, £6.")
    assert CHANGED in shown(redirected)
