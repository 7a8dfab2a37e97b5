"""The OpenAPI document, and schemathesis fuzzing the live gateway against it: no 5xx, and every
response as documented."""

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


async def test_the_document_is_served_without_a_key_with_a_docs_page(api):
    document = await api.get("/api/openapi.json", key=None)
    assert document.status == 200
    spec = document.body
    assert spec["openapi"] == "3.1.0"
    assert {"/api/v2/issues", "/api/fixes/{fixId}", "/api/shadow-execution", "/api/v2/traces"} <= set(spec["paths"])
    assert spec["paths"]["/api/v2/cases"]["get"]["deprecated"] is True
    create = spec["paths"]["/api/v2/issues"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/CreateIssue"}
    assert set(spec["components"]["schemas"]["CreateIssue"]["required"]) == {"title", "description", "agentId",
                                                                             "severity"}
    async with api._session.get(api.base_url + "/api/docs") as page:
        assert page.status == 200 and "/api/openapi.json" in await page.text()


async def test_schemathesis_finds_no_server_error_and_no_undocumented_response(api, tmp_path: Path):
    cli = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    process = await asyncio.create_subprocess_exec(
        cli, "run", f"{api.base_url}/api/openapi.json",
        "--header", f"Authorization: Bearer {api.key}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
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
    assert process.returncode == 0, text[-6000:]
