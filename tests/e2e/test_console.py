"""The web console in a real headless Chromium, used as a person would: sign in, find an issue
created through the API on the board, open it, propose a fix, shadow test it and read the diff."""

import uuid

import pytest
from playwright.async_api import Page, async_playwright, expect

from deploy.local.demo_model import RIGHT, WRONG
from tests.e2e.test_shadow_tests import GROUNDING_DIFF, a_trace
from tests.support.browser import DESKTOP, FLAGS, PHONE, chromium_path, screenshot_dir

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
