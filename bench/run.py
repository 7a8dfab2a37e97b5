"""`make bench`: starts the system and its baselines, measures them side by side in one run, and
writes docs/benchmarks.md. Every figure is a ratio between systems measured in the same run,
or a count, so that the report says something on a shared, noisy machine."""

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from pymongo import AsyncMongoClient

from bench import clustering
from bench.echo import SERVICE as ECHO_SERVICE
from bench.otlp import otlp_against_json
from bench.otlp import render as render_otlp
from bench.replay import multi_step
from bench.replay import render as render_replay
from bench.webhooks import SETTINGS as WEBHOOK_SETTINGS
from bench.webhooks import render as render_webhooks
from bench.webhooks import webhooks_against_events
from deploy.local.clean_bus import bus_names
from deploy.local.processes import ROOT, Process, embedded_mongo, free_port, port_open, wait_until
from deploy.local.stack import new_stack
from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.handlers import create_api_key
from shared.messaging.cleanup import namespace_names, remove_namespace
from shared.settings import DEFAULT_AMQP_URL
from tests.support.api import Api
from tests.support.waiting import eventually

AMQP_URL = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
CONCURRENCIES = (1, 8, 32)
DURATION = float(os.environ.get("BENCH_SECONDS", "4"))
MODEL_LATENCY = 0.2
RUNNER_CONCURRENCY = 4
SCALING_TRACES = 96
PROPAGATION_ROUNDS = 40
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCALING_TIMEOUT = 600


@dataclass
class Report:
    machine: dict
    rest: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    propagation: dict = field(default_factory=dict)
    scaling: list = field(default_factory=list)
    scaling_cpu: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    otlp: dict = field(default_factory=dict)
    replay: dict = field(default_factory=dict)
    clustering: dict = field(default_factory=dict)
    webhooks: dict = field(default_factory=dict)


def describe_machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal")))
    rabbit = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("rabbitmqctl") else "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kb / 1024**2, 1),
            "kernel": platform.release(), "python": platform.python_version(), "rabbitmq": rabbit or "unknown",
            "store": "embedded mongoeco server (memory engine)",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_percent(before: dict[str, int], watched: dict[str, int], elapsed: float) -> dict[str, int]:
    """Each watched process's CPU since `before` (its ticks then), in % of one core."""
    return {name: round((cpu_ticks(pid) - before[name]) / CLOCK_TICKS / elapsed * 100) for name, pid in watched.items()}


def rss_mib(pid: int) -> float:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS"))
    return round(int(line.split()[1]) / 1024, 1)


def broker_pid() -> int | None:
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


async def load(base: str, key: str | None, scenario: str, concurrency: int, ids: list[str],
               watch: dict[str, int] | None = None) -> tuple[dict, dict, dict]:
    """Runs the load generator: its result, and the CPU and resident size of the `watch`
    processes (and its own CPU) while it runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", "--base", base, "--scenario", scenario, "--concurrency",
        str(concurrency), "--duration", str(DURATION), "--ids", ",".join(ids), *(["--key", key] if key else []),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    watched = {**(watch or {}), "load generator": process.pid}
    await asyncio.sleep(1.0)
    before, started = {name: cpu_ticks(pid) for name, pid in watched.items()}, time.monotonic()
    await asyncio.sleep(DURATION * 0.8)
    cpu = cpu_percent(before, watched, time.monotonic() - started)
    memory = {name: rss_mib(pid) for name, pid in (watch or {}).items() if "broker" not in name}
    output, _ = await process.communicate()
    return json.loads(output.decode().strip().splitlines()[-1]), cpu, memory


async def seed(api: Api, count: int) -> list[str]:
    return [(await api.create_issue(title=f"seed {n}", description="d", agentId="agent_bench", severity="low"))["id"]
            for n in range(count)]


async def propagation(api: Api) -> dict:
    """Time from a fix PATCH to `testing` until its issue reads `testing`, polled every 2 ms."""
    issue = await api.create_issue(title="p", description="d", agentId="a", severity="low")
    fix = await api.create_fix(issue["id"], type="config_change", description="d", changes={"temperature": 0})
    await api.patch(f"/api/fixes/{fix['id']}", json={"status": "proposed"})
    delays = []
    for _ in range(PROPAGATION_ROUNDS):
        for fix_status, issue_status in (("testing", "testing"), ("proposed", "proposed_fix")):
            started = time.monotonic()
            await api.patch(f"/api/fixes/{fix['id']}", json={"status": fix_status})
            await api.issue_when(issue["id"], lambda issue, wanted=issue_status: issue["status"] == wanted,
                                 issue_status, interval=0.002)
            if issue_status == "testing":
                delays.append((time.monotonic() - started) * 1000)
    return {"rounds": len(delays), "p50": round(statistics.median(delays), 1), "max": round(max(delays), 1)}


async def scaling_run(api: Api, runners: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    traces = [{"id": f"tr_{tag}_{n}", "agentId": "agent_bench", "model": {"name": "demo"},
               "systemPrompt": "Answer refund questions using the knowledge base.",
               "input": [{"role": "user", "content": f"Can I return this after 45 days? #{n}"}],
               "output": "Yes, within 60 days.", "expectedOutput": "No. Returns within 30 days of purchase."}
              for n in range(SCALING_TRACES)]
    ingested = await api.post("/api/v2/traces", json={"traces": traces})
    assert ingested.status == 201, ingested.body
    issue = await api.create_issue(title="scaling", description="d", agentId="agent_bench", severity="low")
    diff = ("- Answer refund questions using the knowledge base.\n+ Answer refund questions using the knowledge "
            "base. Always verify the policy effective date before citing specific terms.")
    fix = await api.create_fix(issue["id"], description="d", changes={"promptDiff": diff})
    started = time.monotonic()
    test = (await api.post("/api/shadow-tests", json={"fixId": fix["id"], "traceIds": [t["id"] for t in traces],
                                                     "config": {"comparisonMode": "automated"}})).data

    async def finished() -> dict | None:
        status = (await api.get(f"/api/shadow-tests/{test['id']}")).data
        return status if status["status"] in ("completed", "failed") else None

    status = await eventually(finished, SCALING_TIMEOUT, f"shadow test {test['id']} to finish")
    assert status["status"] == "completed", status
    seconds = time.monotonic() - started
    return {"runners": runners, "traces": SCALING_TRACES, "seconds": round(seconds, 2),
            "traces_per_s": round(SCALING_TRACES / seconds, 1),
            "improved": status["results"]["improved"]}


async def measure() -> Report:
    report = Report(describe_machine())
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    mongo_port, model_port, direct_port, echo_port = free_port(), free_port(), free_port(), free_port()
    quiet = subprocess.DEVNULL
    mongo = embedded_mongo(mongo_port, None, output=quiet).start_listening(mongo_port)
    model = Process("demo-model", ["-m", "deploy.local.demo_model", "--port", str(model_port),
                                   "--delay", str(MODEL_LATENCY)], output=quiet).start_listening(model_port)
    mongo_url = f"mongodb://127.0.0.1:{mongo_port}/"
    stack = new_stack(AMQP_URL, mongo_url, log_dir, replay_model_base_url=f"http://127.0.0.1:{model_port}/v1",
                      replay_concurrency=str(RUNNER_CONCURRENCY), rate_limit_burst="100000000",
                      rate_limit_per_second="100000000", **WEBHOOK_SETTINGS)
    extras = [
        Process("direct", ["-m", "bench.direct", "--port", str(direct_port)], output=quiet,
                env={"MONGODB_URL": mongo_url, "MONGODB_DATABASE": "bench_direct", "AMQP_URL": AMQP_URL,
                     "BUS_NAMESPACE": stack.namespace + "-direct"}),
        Process("echo back", ["-m", "bench.echo", "back"], output=quiet,
                env={"AMQP_URL": AMQP_URL, "BUS_NAMESPACE": stack.namespace}),
        Process("echo front", ["-m", "bench.echo", "front", "--port", str(echo_port)], output=quiet,
                env={"AMQP_URL": AMQP_URL, "BUS_NAMESPACE": stack.namespace}),
    ]
    try:
        stack.start_all()
        for process in extras:
            process.start()
        wait_until(lambda: port_open("127.0.0.1", direct_port) and port_open("127.0.0.1", echo_port), 30, "baselines")
        client = AsyncMongoClient(mongo_url)
        key = (await create_api_key(MongoApiKeyStore(client[stack.database]["api_keys"]), "bench")).secret
        await client.close()
        def system_pids() -> dict[str, int]:
            return {**{name: process.popen.pid for name, process in stack.processes.items()},
                    "store (mongoeco)": mongo.popen.pid}

        pids = system_pids()
        report.memory["idle"] = {name: rss_mib(pid) for name, pid in pids.items()}
        if (broker := broker_pid()) is not None:
            pids["broker (RabbitMQ)"] = broker
        direct_url, echo_url = f"http://127.0.0.1:{direct_port}", f"http://127.0.0.1:{echo_port}"
        async with aiohttp.ClientSession() as http:
            api = Api(http, stack.base_url, key)
            ids = {"stack": await seed(api, 200), "direct": await seed(Api(http, direct_url, None), 200)}
            for scenario in ("get", "list", "create"):
                for concurrency in CONCURRENCIES:
                    for system, base, token in (("stack", stack.base_url, key), ("direct", direct_url, None)):
                        watch = pids if (scenario, concurrency, system) == ("create", 32, "stack") else None
                        result, cpu, memory = await load(base, token, scenario, concurrency, ids[system], watch)
                        report.rest[f"{scenario}/{concurrency}/{system}"] = result
                        if watch:
                            report.cpu, report.memory["under load"] = cpu, memory
            for concurrency in CONCURRENCIES:
                report.rest[f"echo/{concurrency}/echo"] = (await load(echo_url, None, "echo", concurrency, []))[0]
            report.propagation = await propagation(api)
            report.otlp = await otlp_against_json(stack.base_url, key)
            report.webhooks = await webhooks_against_events(stack, key, AMQP_URL)
            report.replay = await multi_step(api, RUNNER_CONCURRENCY, MODEL_LATENCY)
            running = 1
            for runners in (1, 2, 4):
                for instance in range(running + 1, runners + 1):
                    stack.start("shadow_runner", instance=instance)
                running = runners
                watched = system_pids()
                before, started = {name: cpu_ticks(pid) for name, pid in watched.items()}, time.monotonic()
                report.scaling.append(await scaling_run(api, runners))
                if runners == 4:
                    report.scaling_cpu = cpu_percent(before, watched, time.monotonic() - started)
            async def api_for() -> Api:
                store = MongoApiKeyStore(client[stack.database]["api_keys"])
                return Api(http, stack.base_url, (await create_api_key(store, "b" + uuid.uuid4().hex[:8])).secret)

            client = AsyncMongoClient(mongo_url)
            report.clustering["stack"] = await clustering.through_stack(stack, api_for)
            await client.close()
        report.memory["after load"] = {name: rss_mib(pid) for name, pid in system_pids().items()}
    finally:
        for process in [*extras, model]:
            process.stop()
        stack.stop_all()
        await remove_namespaces(stack.namespace)
        mongo.stop()
    report.clustering["rates"] = clustering.in_process_rates()
    return report


async def remove_namespaces(namespace: str) -> None:
    """What the stack, the echo pair and the direct baseline declared on the broker."""
    echo = namespace_names(namespace, [ECHO_SERVICE], {})
    for names in (bus_names(namespace), echo, bus_names(f"{namespace}-direct")):
        await remove_namespace(AMQP_URL, names, force=True)


def render(report: Report) -> str:
    machine = report.machine
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); rerun it to measure your machine. Every figure is",
        "measured side by side in one run, so read the ratios, not the absolute numbers.",
        "",
        f"**Machine**: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, Linux "
        f"{machine['kernel']}, Python {machine['python']}, RabbitMQ {machine['rabbitmq']}, store: "
        f"{machine['store']}. Broker, store, services, baselines and the load generator all share these "
        f"cores. Run on {machine['date']}, {DURATION:g} s per point after a 1 s warm-up.",
        "",
        "## 1. REST through the message hop, against the same work without it",
        "",
        "*stack*: HTTP → gateway → RabbitMQ → issues service → store. *direct*: HTTP → an aiohttp",
        "handler running the issues service's own handlers and repository → the same store",
        "(bench/direct.py). *echo*: HTTP → an aiohttp front → RabbitMQ → a service that answers at",
        "once, no store (bench/echo.py): the cost of the hop alone.",
        "",
        "Requests per second count successful answers only; errors (of any kind) are counted apart.",
        "",
        "| operation | concurrency | stack req/s | direct req/s | stack / direct | stack p50 / p99 ms "
        "| direct p50 / p99 ms | errors stack / direct |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scenario in ("create", "get", "list"):
        for concurrency in CONCURRENCIES:
            stack = report.rest[f"{scenario}/{concurrency}/stack"]
            direct = report.rest[f"{scenario}/{concurrency}/direct"]
            ratio = round(stack["rps"] / direct["rps"], 2) if direct["rps"] else "-"
            lines.append(f"| {scenario} | {concurrency} | {stack['rps']} | {direct['rps']} | {ratio} | "
                         f"{stack['p50']} / {stack['p99']} | {direct['p50']} / {direct['p99']} | "
                         f"{stack['errors']} / {direct['errors']} |")
    lines += ["", "| RPC echo concurrency | req/s | p50 / p99 ms |", "| --- | --- | --- |"]
    for concurrency in CONCURRENCIES:
        echo = report.rest[f"echo/{concurrency}/echo"]
        lines.append(f"| {concurrency} | {echo['rps']} | {echo['p50']} / {echo['p99']} |")
    lines += ["", "CPU during *create* at concurrency 32 through the stack (% of one core):", "",
              "| process | CPU % |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in sorted(report.cpu.items(), key=lambda item: -item[1])]
    propagation = report.propagation
    lines += [
        "", "## 2. Event propagation", "",
        "From `PATCH /api/fixes/:id` to `testing` until `GET /api/v2/issues/:id` reads `testing` (the",
        f"fix event relayed from the outbox, consumed by the issues service, stored), over "
        f"{propagation['rounds']} rounds, polling every 2 ms: **p50 {propagation['p50']} ms, "
        f"slowest {propagation['max']} ms**.",
        "", "## 3. Shadow runner scaling", "",
        f"One shadow test of {SCALING_TRACES} traces, automated scoring, against the demo model with a fixed",
        f"{int(MODEL_LATENCY * 1000)} ms latency per answer; each runner replays {RUNNER_CONCURRENCY} traces at "
        f"once, so one runner's ceiling is {RUNNER_CONCURRENCY / MODEL_LATENCY:g} traces/s.", "",
        "| runners | seconds | traces/s | speed-up | efficiency vs linear |", "| --- | --- | --- | --- | --- |",
    ]
    base = report.scaling[0]["traces_per_s"]
    for run in report.scaling:
        speedup = round(run["traces_per_s"] / base, 2)
        lines.append(f"| {run['runners']} | {run['seconds']} | {run['traces_per_s']} | {speedup}× | "
                     f"{round(speedup / run['runners'] * 100)}% |")
    lines += ["", "CPU during the 4-runner run (% of one core):", "", "| process | CPU % |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in sorted(report.scaling_cpu.items(), key=lambda item: -item[1])]
    lines += ["", "## 4. Memory (resident set, MiB)", "",
              "Idle after start-up, under *create* at concurrency 32, and after all the load above.", "",
              "| process | idle | under load | after load |", "| --- | --- | --- | --- |"]
    for name, after in report.memory["after load"].items():
        lines.append(f"| {name} | {report.memory['idle'].get(name, '-')} | "
                     f"{report.memory['under load'].get(name, '-')} | {after} |")
    lines += render_otlp(report.otlp)
    lines += ["", clustering.render(report.clustering).strip()]
    lines += render_webhooks(report.webhooks)
    lines += render_replay(report.replay)
    lines += ["", (ROOT / "bench" / "analysis.md").read_text().strip(), ""]
    return "\n".join(lines)


def main() -> None:
    report = asyncio.run(measure())
    target = ROOT / "docs" / "benchmarks.md"
    target.write_text(render(report))
    (ROOT / "var" / "bench" / "report.json").write_text(json.dumps(report.__dict__, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
