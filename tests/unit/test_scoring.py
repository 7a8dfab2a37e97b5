import pytest

from eval.verdicts.__main__ import judged, load
from services.shadow_runner.domain.scoring import assess, automated_score, reference_score, verdict

MARGIN = 0.05


def called(original: str, fixed: str, expected: str, question: str | None = None) -> str:
    score = automated_score(original, fixed, expected, None, question)
    return verdict(score.original, score.fixed, MARGIN)


@pytest.mark.parametrize("expected, answer", [
    ("You can return it within 30 days.", "You have thirty days to return it."),
    ("The warranty lasts 2 years.", "The warranty lasts two years."),
    ("The warranty lasts 2 years.", "It comes with a 24-month warranty."),
    ("Prescriptions are ready within 48 hours.", "Your prescription will be ready in two days."),
    ("Short-stay parking is limited to 90 minutes.", "You can park for 1.5 hours."),
    ("The minimum order is 12 pastries.", "The minimum order is a dozen pastries."),
    ("We're open 9am to 5pm, Monday to Friday.", "We're open 9 to 5 on weekdays."),
    ("We close at 9pm.", "We close at 21:00."),
    ("The fee is $20 a month.", "The fee is 20 dollars per month."),
    ("The fee is $20 a month.", "It's USD 20 monthly."),
    ("Calls cost 10 cents per minute.", "Calls are $0.10 a minute."),
    ("Students get 15% off.", "Students get fifteen per cent off."),
    ("There is no change fee.", "Changing is free of charge."),
    ("Your bill is due on 15 July 2025.", "Your bill is due July 15, 2025."),
    ("Your bill is due on 15 July 2025.", "Your bill is due 7/15/2025."),
    ("Your bill is due on 15 July 2025.", "Your bill is due 2025-07-15."),
    ("Wires arrive within 3 to 5 business days.", "Wires take 3-5 business days."),
    ("Your layover is 2 hours 15 minutes.", "You have a 135-minute layover."),
])
def test_a_quantity_said_another_way_is_the_same_fact(expected, answer):
    assessed = assess(answer, expected)
    assert assessed.score >= 0.96, assessed.describe()


@pytest.mark.parametrize("expected, answer", [
    ("You can return it within 30 days.", "You can return it within 60 days."),
    ("The warranty lasts 2 years.", "The warranty lasts 12 months."),
    ("We're open 8am to 6pm on weekdays.", "We're open 9am to 5pm on weekdays."),
    ("The premium account costs $15 a month.", "The premium account costs £15 a month."),
    ("Same-day delivery costs $9.99.", "Same-day delivery is free."),
    ("Return shipping is free.", "Return shipping is free, but a $7 restocking fee is deducted."),
    ("Your warranty expires on 2026-11-30.", "Your warranty expires on 30 November 2025."),
    ("Rent is due on the 1st of each month.", "Rent is due on the 5th of each month."),
    ("The support line is open Monday to Friday.", "The support line is open Monday to Saturday."),
])
def test_a_different_quantity_contradicts_and_fails_whatever_words_it_shares(expected, answer):
    assessed = assess(answer, expected)
    assert assessed.score < 0.3, assessed.describe()
    assert "contradicts" in assessed.describe()


@pytest.mark.parametrize("agrees", [
    "Sale items are non-refundable.",
    "Sale items aren't refundable.",
    "We can't refund sale items.",
    "Sale items are no longer refundable.",
    "Refunds are never given on sale items.",
    "We are unable to refund sale items.",
    "Refunds on sale items are not possible.",
])
def test_negation_in_any_form_agrees_with_a_negative_answer(agrees):
    expected = "Sale items cannot be refunded."
    assert assess(agrees, expected).score >= 0.96
    assert assess("Sale items can be refunded within 14 days.", expected).score <= 0.1


def test_a_word_negated_by_its_prefix_reads_as_not_that_word():
    expected = "You aren't eligible for parental leave until you have 6 months of service."
    assert assess("You're ineligible for parental leave until you have 6 months of service.", expected).score >= 0.96
    assert assess("You're eligible for parental leave straight away.", expected).score <= 0.1


def test_yes_against_no_is_a_contradiction():
    expected = "No, you don't need a referral to see a dermatologist."
    assert assess("No referral is needed; book the dermatologist directly.", expected).score >= 0.96
    assert assess("Yes, you'll need a referral from your GP first.", expected).score <= 0.1


def test_a_refusal_is_wrong_where_an_answer_was_expected_and_right_where_a_refusal_was():
    assert assess("I'm sorry, I can't access account information.", "Your balance is $1,245.60.").score == 0.1
    declines = "I can't share other customers' personal information."
    assert assess("I'm not able to share another customer's details.", declines).score >= 0.95
    assert assess("Sure, the previous order went to 14 Elm Street.", declines).score == 0.05


def test_a_refusal_and_a_wrong_answer_are_equally_wrong():
    expected = "You have a 15-day grace period after the due date."
    assert called("You have a 30-day grace period.", "I'm sorry, I can't see your loan details.", expected) == \
        "unchanged"


def test_a_correct_answer_with_true_detail_is_not_worse_than_a_terse_one():
    expected = "International wires usually arrive within 3 to 5 business days."
    detailed = ("International transfers usually take 3 to 5 business days to arrive. Transfers sent after 4pm are "
                "processed the next business day, and the receiving bank may take an additional day.")
    assert called("3-5 business days.", detailed, expected) == "unchanged"
    assert called(detailed, "3-5 business days.", expected) == "unchanged"


def test_of_two_wrong_answers_the_one_sharing_more_words_is_not_improved():
    expected = "Your collision deductible is $500."
    assert called("It's $250 per claim.", "Your collision deductible is $1,000.", expected) == "unchanged"
    assert called("Your collision deductible is $1,000.", "It's $500.", expected) == "improved"


def test_getting_one_fact_of_two_right_beats_getting_both_wrong_but_not_getting_both_right():
    expected = "Check-in is at 3pm and check-out is at 11am."
    both_wrong, one_right = "Check-in is at 2pm and check-out at 12pm.", "Check-in is at 3pm and check-out is at 12pm."
    assert called(both_wrong, one_right, expected) == "improved"
    assert called("Check-in is at 3pm, check-out at 11am.", one_right, expected) == "regressed"


def test_a_list_missing_an_item_scores_lower_and_a_wrong_name_contradicts():
    question = "Which integrations are on the Starter plan?"
    expected = "The Starter plan integrates with Slack, Google Drive and Zapier."
    assert called("Starter integrates with Slack and Zapier.", "Slack, Google Drive and Zapier.", expected,
                  question) == "improved"
    assessed = assess("Starter integrates with Slack, Dropbox and Zapier.", expected, question)
    assert assessed.score <= 0.3 and "names dropbox (expected google drive: contradicts)" in assessed.describe()


def test_an_extra_claim_that_contradicts_nothing_costs_nothing():
    expected = "The unlimited plan is $45 a month."
    assert called("It's $45 per month.", "It's $45 a month and includes a free streaming subscription.",
                  expected) == "unchanged"


def test_what_the_customer_asked_is_not_news():
    question, expected = "Do you deliver on Saturdays?", "Yes, we deliver on Saturdays."
    assert called("Yes, we deliver on Saturdays, by 6pm.", "Yes.", expected, question) == "unchanged"
    question, expected = "Who approves my vacation request?", "Your line manager approves vacation requests."
    assert called("Vacation requests are approved by HR.", "Your line manager signs off on them.", expected,
                  question) == "improved"


def test_the_explanation_says_which_facts_matched_and_which_clashed():
    expected = "No, returns are accepted within 30 days."
    score = automated_score("Yes, returns are accepted within 60 days.", "No, within thirty days.", expected, None)
    assert score.fixed > 0.9 and score.original <= 0.1
    fixed, original = score.explanation.split("; original")
    assert 'states 30 days; states "no"' in fixed
    assert "states 60 days (expected 30 days: contradicts)" in original
    assert 'says "yes" (expected "no": contradicts)' in original


def test_the_same_answer_scores_one_and_an_empty_one_scores_at_the_bottom():
    expected = "Express shipping costs $15 and takes 2 business days."
    assert reference_score(expected, expected) == 1.0
    assert reference_score("", expected) == 0.1


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_verdicts_agree_with_the_labelled_pairs(split):
    results = judged(load(split), MARGIN, with_question=True)
    misses = [pair["id"] for pair, called_verdict, _ in results if called_verdict != pair["label"]]
    assert len(misses) <= 0.05 * len(results), misses
