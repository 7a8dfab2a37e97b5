"""The OpenAPI document, and schemathesis fuzzing the live gateway against it with every check: no
5xx, every response as documented, what the document allows accepted and what it refuses refused."""

import asyncio
import os
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


async def test_the_document_is_served_without_a_key_with_a_docs_page(api):
    document = await api.get("/api/openapi.json", key=None)
    assert document.status == 200
    spec = document.body
    assert spec["openapi"] == "3.1.0"
    assert {"/api/v2/issues", "/api/fixes/{fixId}", "/api/shadow-execution", "/api/v2/traces",
            "/v1/traces", "/api/otlp/v1/traces"} <= set(spec["paths"])
    assert spec["paths"]["/api/v2/cases"]["get"]["deprecated"] is True
    create = spec["paths"]["/api/v2/issues"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/NewIssue"}
    new_issue = spec["components"]["schemas"]["NewIssue"]
    assert set(new_issue["required"]) == {"title", "description", "agentId", "severity"}
    assert {"source", "clusterConfidence"}.isdisjoint(new_issue["properties"])
    assert new_issue["additionalProperties"] is False
    listing = {p["name"]: p["schema"] for p in spec["paths"]["/api/v2/issues"]["get"]["parameters"]}
    assert listing["source"]["enum"] == ["manual", "clustering"]
    assert spec["components"]["schemas"]["IssueSummary"]["properties"]["source"]["enum"] == ["manual", "clustering"]
    async with api._session.get(api.base_url + "/api/docs") as page:
        assert page.status == 200 and "/api/openapi.json" in await page.text()


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


async def test_the_docs_page_loads_everything_from_the_gateway_itself(api):
    async with api._session.get(api.base_url + "/api/docs") as page:
        links = Links()
        links.feed(await page.text())
    assert links.found, "the page links its description and its renderer"
    assert all(link.startswith("/") and not link.startswith("//") for link in links.found), links.found
    scripts = [link for link in links.found if link.endswith(".js")]
    assert scripts
    for script in scripts:
        async with api._session.get(api.base_url + script) as asset:
            body = await asset.read()
            assert asset.status == 200 and asset.content_type in ("text/javascript", "application/javascript")
            assert "max-age=31536000" in asset.headers["Cache-Control"]
            assert b"redoc.standalone.js" in body[:200] and len(body) > 500_000


async def test_json_answers_are_utf_8_with_text_as_it_is(api):
    async with api._session.get(api.base_url + "/api/v2/issues") as response:
        raw = await response.read()
        assert response.status == 401 and response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "Bearer thk_…" in raw.decode("utf-8") and b"\\u2026" not in raw


# A body past MAX_BODY_BYTES is refused with 413, a request line or headers too long with 414 or 431.
SCHEMATHESIS_CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "404", "405", "409", "413", "414", "415", "422", "429", "431"]
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
"""


async def test_schemathesis_finds_the_gateway_doing_exactly_what_its_document_says(api, tmp_path: Path):
    cli = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    (tmp_path / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG)
    process = await asyncio.create_subprocess_exec(
        cli, "--config-file", str(tmp_path / "schemathesis.toml"), "run", f"{api.base_url}/api/openapi.json",
        "--header", f"Authorization: Bearer {api.key}",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "25",
        "--seed", "7",
        "--workers", "2",
        "--exclude-path", "/metrics",
        "--suppress-health-check", "all",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""}, cwd=tmp_path,
    )
    output, _ = await process.communicate()
    text = output.decode()
    assert process.returncode == 0, text[-16000:]
