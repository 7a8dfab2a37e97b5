"""Clustering figures for `make bench`: the bare model's encode rate against traces embedded and
clustered (in process, and through the running service) in the same run, the time from
ingestion to issue, and the service's resident memory.

    python -m bench.clustering   # a stack of its own; rewrites the clustering section of docs/benchmarks.md
"""

import asyncio
import re
import time
import uuid
from functools import partial

from bench.own_stack import own_stack
from deploy.local.processes import ROOT
from deploy.local.stack import Stack
from services.clustering.adapters.wordllama_embedder import WordLlamaEmbedder
from services.clustering.domain.clustering import cluster_batch
from services.clustering.domain.embedding import aspect_texts, embed_traces
from services.clustering.domain.intake import failing_traces
from services.clustering.domain.model import ClusteringSettings
from services.clustering.domain.state import AgentState
from tests.support.api import Api
from tests.support.failure_modes import MODES, batch, mode_of
from tests.support.waiting import eventually
from tests.unit.clustering_fakes import ingested

TRACES = 200
ROUNDS = 3
HEADING = "## 6. Clustering"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return round(int(line.split()[1]) / 1024, 1)


def in_process_rates(rounds: int = ROUNDS) -> dict:
    """Traces a second: the bare model encoding one text a trace, and the clustering service's
    work on the same traces (four aspects embedded and the behaviour read, then clustered agent by agent)."""
    embedder = WordLlamaEmbedder()
    traces = failing_traces(ingested(batch(TRACES // len(MODES), "rate")))
    whole = [" ".join(aspect_texts(trace).values()) for trace in traces]
    bare, clustered = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        embedder.embed(whole)
        bare.append(len(traces) / (time.perf_counter() - started))
        started = time.perf_counter()
        vectors = embed_traces(embedder, traces)
        states: dict[str, AgentState] = {}
        for agent in dict.fromkeys(trace.agent_id for trace in traces):
            state = states.setdefault(agent, AgentState(agent))
            pairs = [(t, v) for t, v in zip(traces, vectors, strict=True) if t.agent_id == agent]
            cluster_batch(state, pairs, ClusteringSettings())
        clustered.append(len(traces) / (time.perf_counter() - started))
    bare_rate, clustered_rate = max(bare), max(clustered)
    return {"bare": round(bare_rate), "clustered": round(clustered_rate),
            "ratio": round(clustered_rate / bare_rate, 3)}


async def ingestion_to_issue(api: Api) -> dict:
    """Seconds from `POST /api/v2/traces` of 200 failing traces until the first issue reads,
    and until every mode is in an issue."""
    traces = batch(TRACES // len(MODES), "bench" + uuid.uuid4().hex[:6])
    started = time.monotonic()
    response = await api.post("/api/v2/traces", json={"traces": traces})
    assert response.status == 201, response.body
    posted = time.monotonic() - started

    async def issues() -> list[dict]:
        return (await api.get("/api/v2/issues", params={"limit": "100", "source": "clustering"})).data

    await eventually(issues, 30, "a first issue", interval=0.02)
    first = time.monotonic() - started

    async def every_mode() -> bool:
        found = set()
        for issue in await issues():
            found |= {mode_of(t) for t in (await api.get(f"/api/v2/issues/{issue['id']}")).data["traceIds"]}
        return found == set(MODES)

    await eventually(every_mode, 30, "every mode in an issue", interval=0.05)
    return {"post": round(posted, 2), "first": round(first, 2), "all": round(time.monotonic() - started, 2),
            "issues": len(await issues())}


async def through_stack(stack: Stack, api_for) -> dict:
    pid = stack.processes["clustering"].popen.pid
    idle = rss_mib(pid)
    runs = []
    for _ in range(ROUNDS):
        runs.append(await ingestion_to_issue(await api_for()))
    return {"runs": runs, "rss_idle": idle, "rss_after": rss_mib(pid)}


def render(figures: dict) -> str:
    rates, stack = figures["rates"], figures["stack"]
    lines = [
        HEADING, "",
        f"{TRACES} failing traces of {len(MODES)} failure modes (tests/support/failure_modes.py, from the clustering",
        "development set) of three agents. *Bare model*: WordLlama encoding one text a trace (all its",
        "aspects joined). *Embedded and clustered*: what the service does with a batch, in process: four",
        "aspects embedded and the behaviour read, then agglomerative clustering, pruning and labelling",
        "agent by agent. Best of",
        f"{ROUNDS} rounds each, in the same process.", "",
        "| bare model, traces/s | embedded and clustered, traces/s | ratio |", "| --- | --- | --- |",
        f"| {rates['bare']} | {rates['clustered']} | {rates['ratio']} |", "",
        f"Through the stack: `POST /api/v2/traces` of the {TRACES} traces (one request, a fresh workspace",
        "each round) until `GET /api/v2/issues?source=clustering` shows the first issue, and until every",
        "mode is in an issue (the traces service announces, the clustering service embeds, clusters and",
        "sends CreateIssue, the issues service stores):", "",
        "| round | POST answered, s | first issue, s | every mode in an issue, s | issues |",
        "| --- | --- | --- | --- | --- |",
    ]
    for number, run in enumerate(stack["runs"], 1):
        lines.append(f"| {number} | {run['post']} | {run['first']} | {run['all']} | {run['issues']} |")
    lines += ["", f"Resident memory of the clustering service (model loaded): **{stack['rss_idle']} MiB** idle, "
              f"**{stack['rss_after']} MiB** after the {ROUNDS} rounds.", ""]
    return "\n".join(lines)


async def measure_own_stack() -> dict:
    async with own_stack() as (stack, api_for):
        figures = {"stack": await through_stack(stack, partial(api_for, "bench"))}
    figures["rates"] = in_process_rates()
    return figures


def replace_section(document: str, section: str) -> str:
    if HEADING not in document:
        before, analysis, after = document.partition("\n## What limits")
        return before.rstrip() + "\n\n" + section + analysis + after
    return re.sub(rf"{re.escape(HEADING)}\n.*?(?=\n## |\Z)", section.rstrip() + "\n", document, flags=re.S)


def main() -> None:
    figures = asyncio.run(measure_own_stack())
    target = ROOT / "docs" / "benchmarks.md"
    target.write_text(replace_section(target.read_text(), render(figures)))
    print(render(figures))


if __name__ == "__main__":
    main()
