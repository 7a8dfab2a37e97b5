import pytest

from eval.clustering.metrics import score

LABELS = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "b3": "B", "x": None, "y": None}


def test_issues_that_match_the_modes_score_one_and_one_offs_left_alone_cost_nothing():
    report = score({"a1": "i1", "a2": "i1", "a3": "i1", "b1": "i2", "b2": "i2", "b3": "i2"}, LABELS)
    assert (report.ari, report.purity, report.coverage, report.one_offs_in_issues, report.issues) == (1, 1, 1, 0, 2)
    assert [(m.mode, m.placed, m.issues, m.in_main_issue, m.main_issue_purity) for m in report.modes] == [
        ("A", 3, 1, 3, 1.0), ("B", 3, 1, 3, 1.0)]


def test_a_trace_in_no_issue_counts_as_its_own_singleton():
    report = score({"a1": "i1", "a2": "i1", "b1": "i2", "b2": "i2", "b3": "i2", "a3": None}, LABELS)
    assert report.ari == pytest.approx(0.7059, abs=1e-4)  # adjusted_rand_score(AAABBB, [1, 1, alone, 2, 2, 2])
    assert report.coverage == pytest.approx(5 / 6, abs=1e-4)


def test_a_one_off_in_an_issue_is_counted_and_lowers_purity_but_not_the_ari():
    placements = {"a1": "i1", "a2": "i1", "a3": "i1", "x": "i1", "b1": "i2", "b2": "i2", "b3": "i2"}
    report = score(placements, LABELS)
    assert report.one_offs_in_issues == 1
    assert report.ari == 1
    assert report.purity == pytest.approx(6 / 7, abs=1e-4)
    assert report.modes[0].main_issue_purity == 0.75


def test_two_modes_merged_into_one_issue_lose_ari_and_purity():
    report = score(dict.fromkeys(["a1", "a2", "a3", "b1", "b2", "b3"], "i1"), LABELS)
    assert report.ari == 0 and report.purity == 0.5 and report.issues == 1
