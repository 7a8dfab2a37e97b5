"""The README's curl examples, run as written against a live stack."""

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from deploy.local.processes import free_port, port_open
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def example(name: str) -> str:
    text = README.read_text()
    block = re.search(rf"<!-- readme-examples:{name} -->\n```bash\n(.*?)```\n<!-- readme-examples:end -->", text, re.S)
    assert block, f"README lost its {name} examples block"
    return block.group(1)


async def run(script: str, api, **env: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script,
        env={**os.environ, "BASE": api.base_url, "KEY": api.key, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_the_readme_issue_examples_work_as_written(api):
    output = await run(example("issues"), api)
    assert output.count('"success": true') == 10, output
    assert '"code": "PRECONDITION_FAILED"' in output and "changed since it was read" in output
    assert '"message": "Issue deleted successfully"' in output
    assert '"code": "NOT_FOUND"' in output
    assert '"code": "VALIDATION_ERROR"' in output and "limit" in output
    assert '"data": [], "pagination"' in output  # no issue found by clustering yet
    assert '"code": "UNAUTHORIZED"' in output
    assert "Idempotent-Replayed: true" in output
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 1


async def test_the_readme_fix_examples_work_as_written(api):
    output = await run(example("fixes"), api)
    assert output.count('"success": true') == 6, output
    assert '"status": "closed"' in output
    assert '"code": "CONFLICT"' in output and "from applied to proposed" in output
    issue = (await api.get("/api/v2/issues")).data[0]
    assert issue["status"] == "closed"


async def test_the_readme_shadow_testing_walkthrough_works_as_written(api):
    output = await run(example("shadow"), api)
    assert '"status": "completed"' in output
    assert '"improved": 3' in output and '"improvementRate": 1.0' in output
    assert '"verdict": "improved"' in output
    assert '"recommendation": "inconclusive"' in output and '"minimumTraces": 6' in output
    assert '"pValue": 0.25' in output
    test = (await api.get("/api/shadow-tests")).data[0]
    assert test["results"]["control"]["unchanged"] == 1 and test["results"]["control"]["regressed"] == 0
    fix = (await api.get("/api/fixes")).data[0]
    assert fix["status"] == "testing"
    issue = (await api.get("/api/v2/issues")).data[0]
    assert issue["traceCount"] == 3
    detail = (await api.get(f"/api/v2/issues/{issue['id']}")).data
    assert detail["metadata"]["affectedCustomers"] == 2


async def test_the_readme_otlp_example_sends_a_run_that_reads_back_as_a_trace(api):
    output = await run(example("otlp"), api)
    trace = json.loads(output)["data"]
    assert trace["id"].startswith("otel-") and trace["agentId"] == "weather_bot"
    assert trace["output"].startswith("Take an umbrella in Paris") and trace["customerId"] == "cust_42"
    assert [step["arguments"] for step in trace["steps"]] == [{"city": "Paris"}, {"city": "London"}]
    assert trace["tools"][0]["function"]["name"] == "get_weather" and trace["status"] == "ok"


async def test_the_readme_tool_replay_walkthrough_works_as_written(api):
    output = await run(example("tools"), api)
    assert '{"improved": 2, "regressed": 0, "diverged": 0}' in output, output
    read = output.split('"diverged": 0}', 1)[1].split('{"success"', 1)[0]
    assert read.count('"source": "recorded"') == 2 and '"name": "search_faq"' not in read, read
    assert read.count('"finalAnswer": "Returns are accepted within 30 days of purchase."') == 2
    assert read.count(" improved {") == 2
    answers, tail = [], output.split(read, 1)[1].strip()
    while tail:
        answer, end = json.JSONDecoder().raw_decode(tail)
        answers.append(answer["data"])
        tail = tail[end:].strip()
    diverged, stubbed = [answer for answer in answers if "executedAt" in answer]
    assert diverged["verdict"] == "diverged" and diverged["replay"]["divergedAt"] == {
        "name": "escalate_to_human", "arguments": "{}"}
    assert "escalate_to_human({})" in diverged["explanation"]
    assert stubbed["verdict"] != "diverged" and stubbed["replay"]["steps"][-1]["source"] == "stub"
    assert stubbed["fixedOutput"] == "Ticket T-1 opened: a person will call you today."
    test = (await api.get("/api/shadow-tests")).data[0]
    assert test["results"]["improved"] == 2


async def test_the_readme_clustering_walkthrough_works_as_written(api):
    output = await run(example("clustering"), api)
    assert '"minClusterSize": 4' in output
    assert "after the fix: closed" in output
    issue = (await api.get("/api/v2/issues", params={"source": "clustering"})).data
    assert len(issue) == 1
    detail = (await api.get(f"/api/v2/issues/{issue[0]['id']}")).data
    assert detail["status"] == "open" and detail["metadata"]["regressionCount"] == 1
    assert detail["traceCount"] == 10 and 0 <= detail["metadata"]["clusterConfidence"] <= 1


def python_example(name: str) -> str:
    text = README.read_text()
    block = re.search(rf"<!-- readme-examples:{name} -->\n```python\n(.*?)```\n<!-- readme-examples:end -->", text,
                      re.S)
    assert block, f"README lost its {name} example"
    return block.group(1)


async def test_the_readme_webhook_receiver_verifies_what_the_readme_examples_send(hooks_api, tmp_path):
    port = free_port()
    created = json.loads(await run(example("webhooks"), hooks_api, RECEIVER_URL=f"http://127.0.0.1:{port}/"))
    secret = created["data"]["secret"]
    (tmp_path / "receiver.py").write_text(python_example("receiver"))
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, str(tmp_path / "receiver.py"), env={**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await eventually(lambda: port_open("127.0.0.1", port), 15, "the README's receiver to listen")
        output = await run(example("webhook-deliveries"), hooks_api)
        assert output.count('"success": true') == 6, output
        assert '"status": "succeeded"' in output and '"outcome": "succeeded"' in output
        assert '"responseStatus": 204' in output and "whsec_" in output
        issue = json.JSONDecoder().raw_decode(output)[0]["data"]
        printed = await asyncio.wait_for(receiver.stdout.readline(), 15)
        assert printed.decode().split() == ["issue.created", issue["id"]], "verified, and printed once"
    finally:
        receiver.terminate()
        await receiver.wait()
    assert (await hooks_api.get("/api/webhooks")).data == []


async def test_the_readme_webhook_refusal_is_refused(api):
    output = json.loads(await run(example("webhook-refusal"), api))
    assert output["error"]["code"] == "FORBIDDEN" and "private address" in output["error"]["message"]
