"""A small HTTP client for the gateway, as a user's script would use it."""

from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from tests.support.waiting import eventually


@dataclass
class Response:
    status: int
    body: Any
    headers: CIMultiDict

    @property
    def data(self) -> Any:
        assert self.body.get("success") is True, self.body
        return self.body["data"]

    @property
    def error(self) -> dict:
        assert self.body.get("success") is False, self.body
        return self.body["error"]


class Api:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, key: str | None, workspace: str | None = None):
        self._session = session
        self.base_url = base_url
        self.key = key
        self.workspace = workspace

    async def request(self, method: str, path: str, *, json: Any = None, data: Any = None, params: Any = None,
                      headers: dict[str, str] | None = None, key: str | None = "default") -> Response:
        headers = dict(headers or {})
        key = self.key if key == "default" else key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        async with self._session.request(method, self.base_url + path, json=json, data=data, params=params,
                                         headers=headers) as response:
            body = await response.json(content_type=None)
            return Response(response.status, body, CIMultiDict(response.headers))

    async def get(self, path: str, **kwargs) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs) -> Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs) -> Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs) -> Response:
        return await self.request("DELETE", path, **kwargs)

    async def create_issue(self, **fields: Any) -> dict:
        body = {"title": "Wrong refund policy", "description": "Cites the old policy", "agentId": "agent_1",
                "severity": "high", **fields}
        response = await self.post("/api/v2/issues", json=body)
        assert response.status == 201, response.body
        return response.data

    async def create_fix(self, issue_id: str, **fields: Any) -> dict:
        body = {"issueId": issue_id, "type": "prompt_update", "description": "Cite the current policy",
                "changes": {"promptDiff": "- Answer refund questions.\n+ Answer refund questions with today's policy."},
                **fields}
        response = await self.post("/api/fixes", json=body)
        assert response.status == 201, response.body
        return response.data

    async def issue_when(
        self, issue_id: str, condition, what: str, timeout: float = 15, interval: float = 0.05
    ) -> dict:
        """The issue, once `condition(issue)` holds (events are applied asynchronously)."""
        async def probe():
            issue = (await self.get(f"/api/v2/issues/{issue_id}")).data
            return issue if condition(issue) else None

        return await eventually(probe, timeout, what, interval)

