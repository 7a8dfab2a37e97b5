"""The web console in a real headless Chromium, used as a person would: sign in, find an issue
created through the API on the board, open it, propose a fix, shadow test it and read the diff."""

import uuid

import pytest
from playwright.async_api import Page, async_playwright, expect

from deploy.local.demo_model import RIGHT, WRONG
from shared.contracts.issues import AttachTraces, CreateIssue
from shared.messaging.asking import send
from tests.e2e.test_regression import ingestion_handled, move
from tests.e2e.test_shadow_tests import GROUNDING_DIFF, a_trace, finished, setup, start_test
from tests.support.browser import DESKTOP, FLAGS, PHONE, chromium_path, screenshot_dir
from tests.support.bus import rpc_client

pytestmark = pytest.mark.e2e
CSP = "script-src 'self'"


@pytest.fixture(scope="session")
async def browser():
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser, stack):
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.base_url)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield opened
    await context.close()
    assert not [e for e in errors if "401" not in e and "412" not in e], errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return screenshot_dir(tmp_path_factory.mktemp("console"))


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Issues", level=1)).to_be_visible()


async def test_the_console_is_served_with_a_strict_content_security_policy(http, stack):
    async with http.get(stack.base_url + "/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert CSP in response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert '<script type="module" src="/console/app.js">' in await response.text()
    async with http.get(stack.base_url + "/console/app.js") as response:
        assert response.status == 200 and response.content_type == "text/javascript"
    for missing in ("/console/nothing.js", "/console/../console.py", "/console/%2e%2e/console.py"):
        async with http.get(stack.base_url + missing) as response:
            assert response.status == 404, missing


async def test_a_wrong_key_is_refused_with_a_clear_message(page, shots):
    await page.goto("/")
    await page.get_by_label("API key").fill("thk_" + "x" * 40)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("That API key was not accepted")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert await page.evaluate("Object.keys(sessionStorage).length") == 0
    assert "thk_" not in page.url
    await page.screenshot(path=shots / "sign-in-refused.png")


async def test_the_whole_loop_from_the_board_to_a_side_by_side_diff(page, api, shots):
    run = uuid.uuid4().hex[:8]
    traces = [a_trace(run, n) for n in range(3)]
    control = a_trace(run, 9, question="Is my blender under warranty?", recorded="The warranty lasts 12 months.")
    assert (await api.post("/api/v2/traces", json={"traces": [*traces, control]})).status == 201
    title = f"Refund window cited wrongly {run}"
    issue = await api.create_issue(title=title, agentId="agent_support", severity="critical",
                                   description="Cites the outdated 60-day refund window",
                                   traceIds=[t["id"] for t in traces], tags=["refunds"])

    await sign_in(page, api.key)
    assert "thk_" not in page.url
    assert await page.evaluate("Object.values(sessionStorage)") == [api.key]
    row = page.locator(f"tr[data-issue='{issue['id']}']")
    await expect(row).to_contain_text(title)
    await expect(row.locator("td[data-label=Traces]")).to_have_text("3")
    await expect(row.locator("td[data-label=Customers]")).to_have_text("3")
    await expect(page.locator(".count-open")).to_have_text("1")
    await page.screenshot(path=shots / "board.png", full_page=True)

    await page.get_by_role("link", name=title).click()
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    first_trace = page.locator(f"article.trace[data-trace='{traces[0]['id']}']")
    await expect(first_trace).to_contain_text("Can I get a refund after 45 days?")
    await expect(first_trace.locator(".answers")).to_contain_text(WRONG)
    await expect(first_trace.locator(".answers")).to_contain_text(RIGHT)
    await page.screenshot(path=shots / "issue.png", full_page=True)

    await page.get_by_label("Type", exact=True).select_option("prompt_update")
    await page.get_by_label("Description", exact=True).fill("Ground refund answers in the current policy")
    await page.get_by_label("Prompt diff", exact=True).fill(GROUNDING_DIFF)
    await expect(page.locator(".preview .line-added")).to_contain_text("Always verify the policy effective date")
    await page.get_by_role("button", name="Create fix (as draft)").click()
    await expect(page.get_by_role("heading", name="Ground refund answers in the current policy")).to_be_visible()
    await expect(page.locator(".meta")).to_contain_text("draft")
    await expect(page.locator(".moves")).to_contain_text("only a fix in testing can be applied")
    await page.screenshot(path=shots / "fix.png", full_page=True)

    await page.get_by_label("Control traces").fill(control["id"])
    await page.get_by_role("button", name="Start shadow test").click()
    await expect(page.get_by_role("heading", name="Shadow test", exact=True)).to_be_visible()
    await expect(page.locator("#test-status")).to_have_text("✔ completed", timeout=60_000)
    await expect(page.locator("[data-count=improved]")).to_have_text("3")
    await expect(page.locator("[data-count=regressed]")).to_have_text("0")
    await expect(page.locator("#improvement-rate")).to_have_text("100%")
    await expect(page.locator("#recommendation")).to_contain_text("inconclusive")
    await expect(page.locator("#p-value")).to_have_text("0.250")
    await expect(page.locator("#minimum-traces")).to_have_text("6")
    await expect(page.locator("[data-control-count=regressed]")).to_have_text("1")
    control_result = page.locator(f".controls article.result[data-trace='{control['id']}']")
    await expect(control_result.locator("h3")).to_contain_text("▼ regressed")
    result = page.locator(f"article.result[data-trace='{traces[0]['id']}']")
    await expect(result).to_contain_text("improved")
    await expect(result.locator(".original del").first).to_be_visible()
    await expect(result.locator(".fixed ins").first).to_be_visible()
    assert "30" in "".join(await result.locator(".fixed ins").all_text_contents())
    assert "60" in "".join(await result.locator(".original del").all_text_contents())
    await page.screenshot(path=shots / "shadow-test.png", full_page=True)

    await page.set_viewport_size(PHONE)
    await page.screenshot(path=shots / "shadow-test-phone.png", full_page=True)
    fix = (await api.get("/api/fixes", params={"issueId": issue["id"]})).data[0]
    assert fix["status"] == "testing"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert await page.evaluate("Object.keys(sessionStorage).length") == 0


async def test_issue_changes_send_the_etag_and_a_stale_one_is_explained(page, api):
    issue = await api.create_issue(title=f"Tone too curt {uuid.uuid4().hex[:6]}", severity="low")
    await sign_in(page, api.key)
    await page.goto(f"/#/issues/{issue['id']}")
    await expect(page.get_by_role("heading", name=issue["title"])).to_be_visible()

    await page.get_by_label("Severity", exact=True).select_option("high")
    await page.get_by_label("Tags", exact=True).fill("tone, escalated")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")
    stored = (await api.get(f"/api/v2/issues/{issue['id']}")).data
    assert (stored["severity"], stored["tags"]) == ("high", ["tone", "escalated"])

    assert (await api.patch(f"/api/v2/issues/{issue['id']}", json={"tags": ["changed elsewhere"]})).status == 200
    await page.get_by_label("Status", exact=True).select_option("closed")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_contain_text("Someone changed this issue after you opened it")
    await expect(page.get_by_label("Tags", exact=True)).to_have_value("changed elsewhere")
    assert (await api.get(f"/api/v2/issues/{issue['id']}")).data["status"] == "open"


async def test_the_board_filters_and_pages_as_the_api_does(page, api, shots):
    agent = f"agent_{uuid.uuid4().hex[:6]}"
    for n, severity in enumerate(["low", "critical", "medium"] * 8):
        await api.create_issue(title=f"Issue {n:02d}", agentId=agent, severity=severity)
    await sign_in(page, api.key)
    await page.get_by_label("Agent", exact=True).fill(agent)
    await page.get_by_label("Severity", exact=True).select_option("critical")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("tbody tr")).to_have_count(8)
    await expect(page.locator("tbody")).not_to_contain_text("low")

    await page.get_by_label("Severity", exact=True).select_option("")
    await page.get_by_label("Sort by", exact=True).select_option("severity")
    await page.get_by_label("Order", exact=True).select_option("asc")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator(".pager")).to_contain_text("Page 1 of 2 · 24 issues")
    await expect(page.locator("tbody tr").first.locator("td[data-label=Severity]")).to_contain_text("low")
    await page.get_by_role("link", name="Next →").click()
    await expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
    await expect(page.locator("tbody tr")).to_have_count(4)
    await expect(page.locator("tbody tr").last.locator("td[data-label=Severity]")).to_contain_text("critical")
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=shots / "board-phone.png", full_page=True)


async def test_fix_moves_follow_the_state_machine_and_a_stale_page_is_explained(page, api):
    issue = await api.create_issue(title=f"Curt answers {uuid.uuid4().hex[:6]}")
    fix = await api.create_fix(issue["id"])
    await sign_in(page, api.key)
    await page.goto(f"/#/fixes/{fix['id']}")
    moves = page.locator(".moves")
    await expect(moves.get_by_role("button")).to_have_text(["Move to proposed", "Move to rejected"])
    await expect(moves.locator(".forbidden")).to_contain_text("applied: only a fix in testing can be applied")
    await page.get_by_role("button", name="Move to proposed").click()
    await expect(page.get_by_role("status")).to_contain_text("The fix is proposed now.")
    await expect(page.locator(".meta")).to_contain_text("proposed")

    assert (await api.patch(f"/api/fixes/{fix['id']}", json={"status": "rejected"})).status == 200
    await page.get_by_role("button", name="Move to testing").click()
    await expect(page.get_by_role("status")).to_contain_text("Someone changed this fix after you opened it")
    await expect(moves).to_contain_text("rejected is final")
    assert (await api.get(f"/api/fixes/{fix['id']}")).data["status"] == "rejected"


async def test_the_console_is_usable_with_the_keyboard_alone(page, api):
    issue = await api.create_issue(title=f"Keyboard reachable {uuid.uuid4().hex[:6]}")
    await page.goto("/")
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.type(api.key)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Issues", level=1)).to_be_focused()
    link = page.get_by_role("link", name=issue["title"])
    for _ in range(40):
        if await link.evaluate("element => element === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(link).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=issue["title"], level=1)).to_be_focused()


async def test_the_word_diff_marks_whole_phrases(page, stack):
    await page.goto("/console/index.html")
    diff = await page.evaluate("""async () => {
        const { wordDiff } = await import("/console/diff.js");
        return [wordDiff("Yes, our policy allows returns within 60 days.", "No. Returns are accepted within 30 days."),
                wordDiff("same text", "same text"), wordDiff("", "new"), wordDiff("a x b", "a b")];
    }""")
    assert diff[0] == [{"op": "del", "text": "Yes, our policy allows returns"},
                       {"op": "ins", "text": "No. Returns are accepted"}, {"op": "same", "text": " within "},
                       {"op": "del", "text": "60"}, {"op": "ins", "text": "30"}, {"op": "same", "text": " days."}]
    assert diff[1] == [{"op": "same", "text": "same text"}]
    assert diff[2] == [{"op": "ins", "text": "new"}]
    assert diff[3] == [{"op": "same", "text": "a "}, {"op": "del", "text": "x "}, {"op": "same", "text": "b"}]


async def a_regression(api, rpc, workspace: str, issue_id: str, trace: str) -> None:
    """A fix of the issue applied (so the issue closes), then a new trace of its failure (so it reopens)."""
    fix = await api.create_fix(issue_id)
    await move(api, fix["id"], "proposed", "testing", "applied")
    await api.issue_when(issue_id, lambda i: i["status"] == "closed", "the applied fix to close the issue")
    reopened = await send(rpc, AttachTraces(issue_id=issue_id, trace_ids=[trace]),
                          ingestion_handled(workspace, f"evt-{trace}"), timeout=10, purpose="attach")
    assert reopened["reopened"] is True


async def test_the_board_filters_by_source_in_the_url_and_marks_regressed_issues(page, api, stack, workspace, shots):
    run = uuid.uuid4().hex[:6]
    async with rpc_client(stack) as (rpc, _):
        command = CreateIssue(title=f"Clustered refunds {run}", description="d", agent_id="agent_support",
                              severity="high", trace_ids=["tr_c1"], source="clustering", cluster_confidence=0.87)
        made = await send(rpc, command, ingestion_handled(workspace, f"evt-cluster-{run}"), timeout=10, purpose="issue")
        clustered = made["issue"]
        once = await api.create_issue(title=f"Regressed once {run}", traceIds=["tr_once_1"])
        steady = await api.create_issue(title=f"Never regressed {run}")
        await api.create_fix(steady["id"], description="Still a draft")
        await a_regression(api, rpc, workspace, once["id"], "tr_once_2")
        await a_regression(api, rpc, workspace, clustered["id"], "tr_c2")
        await a_regression(api, rpc, workspace, clustered["id"], "tr_c3")
    assert (await api.get(f"/api/v2/issues/{clustered['id']}")).data["metadata"]["regressionCount"] == 2

    await sign_in(page, api.key)
    rows = {issue["id"]: page.locator(f"tr[data-issue='{issue['id']}']") for issue in (clustered, once, steady)}
    await expect(rows[clustered["id"]].locator("td[data-label=Source]")).to_have_text("clustering")
    await expect(rows[once["id"]].locator("td[data-label=Source]")).to_have_text("manual")
    await expect(rows[clustered["id"]].locator(".regressed-mark")).to_have_text("↺ regressed ×2")
    await expect(rows[once["id"]].locator(".regressed-mark")).to_have_text("↺ regressed")
    await expect(rows[once["id"]].locator("td[data-label=Customers]")).not_to_have_text("…")
    await expect(rows[steady["id"]].locator(".regressed-mark")).to_have_count(0)
    await expect(page.locator(".count-open")).to_have_text("3")
    await page.screenshot(path=shots / "board-regressed.png", full_page=True)

    await page.get_by_label("Source", exact=True).select_option("clustering")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator(f"tr[data-issue='{clustered['id']}']")).to_be_visible()
    assert "source=clustering" in page.url
    await expect(page.locator(".count-open")).to_have_text("1")
    await expect(page.locator(".count-closed")).to_have_text("0")

    await page.reload()
    await expect(page.get_by_label("Source", exact=True)).to_have_value("clustering")
    await expect(page.locator("tbody tr")).to_have_count(1)
    await page.locator(".count-open").click()
    assert "source=clustering" in page.url and "status=open" in page.url
    await expect(page.locator("tbody tr")).to_have_count(1)

    await page.goto("/#/issues?source=manual")
    await expect(page.locator("tbody tr")).to_have_count(2)
    await expect(page.locator(".count-open")).to_have_text("2")
    await expect(page.locator("tbody")).not_to_contain_text("clustering")


async def test_the_issue_page_tells_what_happened_in_a_timeline(page, api, stack, workspace, shots):
    run = uuid.uuid4().hex[:6]
    traces = [a_trace(run, 0), a_trace(run, 1)]
    assert (await api.post("/api/v2/traces", json={"traces": traces})).status == 201
    issue = await api.create_issue(title=f"Came back {run}", traceIds=[traces[0]["id"]])
    rejected = await api.create_fix(issue["id"], description="Too blunt a prompt change")
    await move(api, rejected["id"], "rejected")
    async with rpc_client(stack) as (rpc, _):
        await a_regression(api, rpc, workspace, issue["id"], traces[1]["id"])
    applied = next(f for f in (await api.get("/api/fixes", params={"issueId": issue["id"]})).data
                   if f["status"] == "applied")

    await sign_in(page, api.key)
    await page.goto(f"/#/issues/{issue['id']}")
    await expect(page.get_by_role("heading", name=issue["title"], level=1)).to_be_visible()
    await expect(page.locator(".meta .regressed-mark")).to_have_text("↺ regressed")
    timeline = page.get_by_role("list", name="What happened, oldest first")
    events = timeline.locator("li")
    await expect(events).to_have_count(8)
    assert await events.evaluate_all("items => items.map(item => item.dataset.event)") == [
        "created", "fix-draft", "fix-rejected", "fix-draft", "fix-proposed", "fix-testing", "fix-applied", "regressed"]
    await expect(events.nth(2)).to_contain_text("✖ Fix rejected: Too blunt a prompt change")
    await expect(events.nth(6)).to_contain_text("Fix applied, so the issue closed: " + applied["description"])
    await expect(events.nth(7)).to_contain_text("↺ Reopened: the failure came back")
    await page.screenshot(path=shots / "issue-timeline.png", full_page=True)
    await events.nth(6).get_by_role("link").click()
    await expect(page.get_by_role("heading", name=applied["description"], level=1)).to_be_visible()


async def test_each_judged_trace_says_whether_both_judge_orders_agreed(page, api, fake_model, shots):
    fair, biased = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    fake_model.bias_judge(biased, 0.9)
    traces = [a_trace(fair, 0), a_trace(biased, 1)]
    _, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces))["id"])
    by_trace = {r["traceId"]: r for r in test["traceResults"]}
    assert by_trace[traces[0]["id"]]["judgeAgreement"]["agreed"] is True
    assert by_trace[traces[1]["id"]]["judgeAgreement"]["agreed"] is False

    await sign_in(page, api.key)
    await page.goto(f"/#/shadow-tests/{test['id']}")
    await expect(page.locator("#test-status")).to_have_text("✔ completed")
    agreed = page.locator(f"article.result[data-trace='{traces[0]['id']}'] details.agreement")
    disagreed = page.locator(f"article.result[data-trace='{traces[1]['id']}'] details.agreement")
    await expect(agreed.locator("summary")).to_have_text("⇄✔ both judge orders agreed")
    await expect(disagreed.locator("summary")).to_have_text("⇄✖ judge orders disagreed, so unchanged")
    await expect(disagreed.locator("dl")).to_be_hidden()
    await disagreed.locator("summary").click()
    scores = disagreed.locator("dl")
    await expect(scores).to_be_visible()
    await expect(scores).to_contain_text("Original answer shown first")
    await expect(scores).to_contain_text("original 1.00, fixed 0.90: ▼ regressed")
    await expect(scores).to_contain_text("Fixed answer shown first")
    await expect(scores).to_contain_text("original 0.20, fixed 1.00: ▲ improved")
    await page.screenshot(path=shots / "shadow-test-judge.png", full_page=True)

    automated = await finished(api, (await start_test(api, fix, traces[:1], mode="automated"))["id"])
    await page.goto(f"/#/shadow-tests/{automated['id']}")
    await expect(page.locator("#test-status")).to_have_text("✔ completed")
    await expect(page.locator("article.result")).to_have_count(1)
    await expect(page.locator("details.agreement")).to_have_count(0)


async def on_screen(page: Page, locator) -> None:
    """Wholly inside the viewport's width (not cut off, nothing to scroll sideways to reach it)."""
    await expect(locator).to_be_visible()
    box = await locator.bounding_box()
    width = page.viewport_size["width"]
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (await locator.evaluate("e => e.outerHTML"))


async def no_sideways_scroll(page: Page) -> None:
    sizes = await page.evaluate("({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })")
    assert sizes["scroll"] <= sizes["inner"], sizes


async def test_at_phone_width_nothing_scrolls_sideways_and_the_board_is_keyboard_reachable(browser, stack, api):
    run = uuid.uuid4().hex[:8]
    long_question = "Can I return a blender I bought 45 days ago, opened, with a_long_unbroken_word_" + "x" * 80
    traces = [a_trace(run, 0), a_trace(run, 1, question=long_question)]
    issue, fix = await setup(api, traces)
    test = await finished(api, (await start_test(api, fix, traces, mode="automated"))["id"])
    context = await browser.new_context(viewport=PHONE, base_url=stack.base_url, is_mobile=True, has_touch=True)
    page = await context.new_page()
    try:
        await sign_in(page, api.key)
        link = page.get_by_role("link", name=issue["title"])
        await expect(link).to_be_visible()
        await expect(page.locator(f"tr[data-issue='{issue['id']}'] td[data-label=Customers]")).to_have_text("2")
        await no_sideways_scroll(page)
        for control in (page.get_by_label("Agent", exact=True), page.get_by_label("Source", exact=True),
                        page.get_by_role("button", name="Apply"), page.get_by_role("button", name="Sign out"), link,
                        page.locator(".counts a").first):
            await on_screen(page, control)

        reached = set()
        for _ in range(60):
            await page.keyboard.press("Tab")
            reached.add(await page.evaluate(
                "document.activeElement.name || document.activeElement.textContent.trim().slice(0, 60)"))
            if issue["title"] in reached:
                break
        assert {"agentId", "status", "severity", "source", "sortBy", "sortOrder", "Apply"} <= reached, reached
        assert issue["title"] in reached, reached
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name=issue["title"], level=1)).to_be_focused()
        await no_sideways_scroll(page)

        await page.goto(f"/#/shadow-tests/{test['id']}")
        await expect(page.locator("#test-status")).to_have_text("✔ completed")
        await expect(page.locator("article.result")).to_have_count(2)
        await no_sideways_scroll(page)
        for control in (page.locator("#test-progress"), page.locator(".verdict-counts").first,
                        page.locator("article.result .original").first, page.locator("article.result .fixed").first,
                        page.get_by_role("link", name=f"fix {fix['id']}")):
            await on_screen(page, control)
    finally:
        await context.close()


async def test_a_tool_update_made_in_the_console_shows_replayed_calls_and_divergence(page, api, shots):
    from tests.e2e.test_tool_replay import RIGHT as POLICY_TEXT
    from tests.e2e.test_tool_replay import a_tool_trace, marker

    m = marker()
    escalate = {"type": "function", "function": {"name": "escalate_to_human", "description": "Hand over."}}
    improving = a_tool_trace(m, 0)
    diverging = a_tool_trace(m, 1)
    diverging["tools"] = [*diverging["tools"], escalate]
    assert (await api.post("/api/v2/traces", json={"traces": [improving, diverging]})).status == 201
    title = f"Trusts the outdated FAQ {m}"
    await api.create_issue(title=title, agentId="agent_tools", traceIds=[improving["id"], diverging["id"]])

    await sign_in(page, api.key)
    await page.get_by_role("link", name=title).click()
    await page.get_by_label("Type", exact=True).select_option("tool_update")
    await expect(page.locator("#fix-type-explanation")).to_contain_text("diverge")
    await page.get_by_label("Description", exact=True).fill("Mark the FAQ as archived")
    await page.get_by_label("Tool to describe anew: name").fill("search_faq")
    await page.get_by_label("Its new description").fill("The 2023 FAQ archive. Do not use.")
    await page.get_by_role("button", name="Create fix (as draft)").click()
    await expect(page.get_by_role("heading", name="Mark the FAQ as archived")).to_be_visible()
    await page.get_by_role("button", name="Start shadow test").click()
    await expect(page.locator("#test-status")).to_have_text("✔ completed", timeout=60_000)
    await expect(page.locator("[data-count=improved]")).to_have_text("1")
    await expect(page.locator("[data-count=diverged]")).to_have_text("1")
    await expect(page.locator("#recommendation-reason")).to_contain_text("1 of 2 diverged")

    improved = page.locator(f"article.result[data-trace='{improving['id']}']")
    await improved.locator(".replay summary").click()
    await expect(improved.locator(".replay summary")).to_contain_text("1, 2 model calls, answered")
    await expect(improved.locator(".replay .step")).to_contain_text('get_refund_policy({"topic": "returns"})')
    await expect(improved.locator(".replay .step")).to_contain_text(POLICY_TEXT)
    stopped = page.locator(f"article.result[data-trace='{diverging['id']}']")
    await expect(stopped.locator("h3")).to_contain_text("≠ diverged")
    await stopped.locator(".replay summary").click()
    await expect(stopped.locator(".replay .step-diverged")).to_contain_text("escalate_to_human({})")
    await expect(stopped.locator(".fixed")).to_contain_text("no answer (diverged)")
    await page.screenshot(path=shots / "tool-replay.png", full_page=True)
