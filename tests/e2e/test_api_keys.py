"""Getting a key: `make api-key` for any workspace, `INIT_API_KEY` for `default`."""

import asyncio
import os
import sys

import pytest

from deploy.local.processes import ROOT
from tests.support.api import Api
from tests.support.output import said

pytestmark = pytest.mark.e2e


async def test_make_api_key_prints_a_working_key_on_its_last_line(stack, http):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.local.api_key", "--workspace", "cli-made",
        cwd=ROOT, env={**os.environ, **stack.env}, stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    key = stdout.decode().strip().splitlines()[-1]
    api = Api(http, stack.base_url, key)
    created = await api.create_issue(title="made with a CLI key")
    assert (await api.get(f"/api/v2/issues/{created['id']}")).status == 200


async def test_a_bad_workspace_name_is_refused(stack):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.local.api_key", "--workspace", "Not Valid!",
        cwd=ROOT, env={**os.environ, **stack.env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 2
    said(stderr.decode(), "workspace")
    assert "thk_" not in stdout.decode()


async def test_the_initial_key_opens_the_default_workspace(stack, http, mongo_client):
    api = Api(http, stack.base_url, stack.env["INIT_API_KEY"])
    created = await api.create_issue(title="default workspace")
    stored = await mongo_client[stack.database]["issues"].find_one({"_id": created["id"]})
    assert stored["workspace"] == "default"
    keys = await mongo_client[stack.database]["api_keys"].find({}, {"_id": 1}).to_list()
    assert all(not document["_id"].startswith("thk_") for document in keys)
