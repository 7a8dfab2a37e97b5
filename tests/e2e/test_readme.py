"""The README's curl examples, run as written against a live stack."""

import asyncio
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> str:
    text = README.read_text()
    block = re.search(r"<!-- readme-examples:start -->\n```bash\n(.*?)```\n<!-- readme-examples:end -->", text, re.S)
    assert block, "README lost its examples block"
    return block.group(1)


async def test_the_readme_curl_examples_work_as_written(api):
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", examples(),
        env={**os.environ, "BASE": api.base_url, "KEY": api.key},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    output = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert output.count('"success": true') == 8, output
    assert '"message": "Issue deleted successfully"' in output
    assert '"code": "NOT_FOUND"' in output
    assert '"code": "VALIDATION_ERROR"' in output and "limit" in output
    assert '"code": "UNAUTHORIZED"' in output
    assert "Idempotent-Replayed: true" in output
    assert (await api.get("/api/v2/issues")).body["pagination"]["total"] == 1
