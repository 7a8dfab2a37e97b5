"""The deployment files agree with the code: every service is there, every setting they pass
exists, probes hit the endpoints the code serves, the autoscaler watches the real queue.
(No Docker engine runs here, so these files are checked statically.)"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.local.processes import SERVICES
from services.clustering.settings import ClusteringServiceSettings
from services.delivery.settings import DeliverySettings
from services.gateway.settings import GatewaySettings
from services.shadow_runner.entrypoints.work import WORK_QUEUE
from services.shadow_runner.settings import RunnerSettings
from services.traces.settings import TracesSettings
from shared.messaging.topology import Topology
from shared.settings import CommonSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
APPS = (*SERVICES, "gateway")
SETTINGS = {"gateway": GatewaySettings, "shadow_runner": RunnerSettings, "traces": TracesSettings,
            "clustering": ClusteringServiceSettings, "delivery": DeliverySettings}


def settings_of(service: str) -> set[str]:
    return {name.upper() for name in SETTINGS.get(service, CommonSettings).model_fields}


def all_settings() -> set[str]:
    return set().union(*(settings_of(service) for service in APPS))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((DEPLOY / "k8s" / resource).read_text()) if d]
    return documents


def test_compose_runs_every_service_from_the_one_image(compose):
    services = compose["services"]
    for app in APPS:
        assert services[app]["command"] == [f"services.{app}"]
        assert services[app]["image"] == "agent-reliability:latest"
        assert services[app]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert "healthcheck" in services[app]
    assert services["demo-model"]["image"] == "agent-reliability:latest"
    assert services["demo-model"]["command"][:3] == ["deploy.local.demo_model", "--host", "0.0.0.0"], \
        "other containers must reach the demo model"
    model_url = services["shadow_runner"]["environment"]["REPLAY_MODEL_BASE_URL"]
    assert "demo-model:" + services["demo-model"]["command"][4] in model_url


def test_compose_passes_only_settings_the_services_read(compose):
    for app in APPS:
        passed = set(compose["services"][app].get("environment") or {})
        assert passed, app
        assert passed <= settings_of(app), (app, passed - settings_of(app))


def test_compose_probes_the_ports_the_services_serve(compose):
    services = compose["services"]
    for app in SERVICES:
        assert services[app]["environment"]["OPS_PORT"] == "8081"
        assert "127.0.0.1:8081/readyz" in " ".join(services[app]["healthcheck"]["test"])
    assert services["gateway"]["environment"]["GATEWAY_PORT"] == "8080"
    assert "127.0.0.1:8080/readyz" in " ".join(services["gateway"]["healthcheck"]["test"])


def test_compose_lets_the_runners_scale_and_uses_a_replica_set(compose):
    runner = compose["services"]["shadow_runner"]
    assert "container_name" not in runner and "ports" not in runner
    assert "--replSet" in compose["services"]["mongodb"]["command"]
    assert "replicaSet=rs0" in runner["environment"]["MONGODB_URL"]
    assert compose["services"]["rabbitmq"]["image"].endswith("-management")


def test_the_image_runs_any_service_as_a_non_root_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert 'ENTRYPOINT ["python", "-m"]' in dockerfile
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in copied.split():
            assert (DEPLOY.parent / path).exists(), path


def deployments(manifests) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in manifests if d["kind"] == "Deployment"}


def test_kubernetes_has_a_probed_bounded_deployment_per_service(manifests):
    found = deployments(manifests)
    for app in APPS:
        container = found[app.replace("_", "-")]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [f"services.{app}"]
        port = {p["name"]: p["containerPort"] for p in container["ports"]}
        expected = 8080 if app == "gateway" else 8081
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert port[container["readinessProbe"]["httpGet"]["port"]] == expected
        assert port[container["livenessProbe"]["httpGet"]["port"]] == expected
        assert set(container["resources"]) == {"requests", "limits"}
        assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]} == {
            "agent-reliability-config", "agent-reliability-secrets"}


def test_each_deployment_sets_only_settings_its_service_reads(manifests):
    found = deployments(manifests)
    for app in APPS:
        container = found[app.replace("_", "-")]["spec"]["template"]["spec"]["containers"][0]
        names = {variable["name"] for variable in container.get("env", ())}
        assert names <= settings_of(app), (app, names - settings_of(app))


def test_the_traces_service_is_given_the_otlp_quiet_period_everywhere(compose, manifests):
    default = str(int(TracesSettings.model_fields["otlp_quiet_period_seconds"].default))
    assert compose["services"]["traces"]["environment"]["OTLP_QUIET_PERIOD_SECONDS"] == default
    container = deployments(manifests)["traces"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "OTLP_QUIET_PERIOD_SECONDS", "value": default} in container["env"]
    readme = (DEPLOY.parent / "README.md").read_text()
    table = readme[readme.index("### Configuration"):]
    assert f"| `OTLP_QUIET_PERIOD_SECONDS` | `{default}`" in table


def test_kubernetes_config_and_secret_hold_only_real_settings(manifests):
    by_kind = {d["kind"]: d for d in manifests if d["kind"] in ("ConfigMap", "Secret")}
    config, secret = by_kind["ConfigMap"]["data"], by_kind["Secret"]["stringData"]
    assert set(config) | set(secret) <= all_settings()
    assert {"MONGODB_URL", "AMQP_URL"} <= set(secret)
    assert config["OPS_PORT"] == "8081" and config["GATEWAY_PORT"] == "8080"


def test_keda_alone_sets_the_number_of_runners(manifests):
    assert "replicas" not in deployments(manifests)["shadow-runner"]["spec"]


def test_keda_scales_the_runners_on_their_real_work_queue(manifests):
    config = next(d for d in manifests if d["kind"] == "ConfigMap")["data"]
    scaled = next(d for d in manifests if d["kind"] == "ScaledObject")
    trigger = scaled["spec"]["triggers"][0]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "shadow-runner"
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == Topology(config["BUS_NAMESPACE"]).subscription_queue(
        "shadow_runner", WORK_QUEUE)
    auth = next(d for d in manifests if d["kind"] == "TriggerAuthentication")
    assert auth["metadata"]["name"] == trigger["authenticationRef"]["name"]
    assert auth["spec"]["secretTargetRef"][0]["key"] == "AMQP_URL"


def test_make_help_names_every_target():
    makefile = (DEPLOY.parent / "Makefile").read_text()
    targets = re.search(r"^\.PHONY: (.+)$", makefile, re.M).group(1).split()
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=DEPLOY.parent, capture_output=True,
                           text=True, check=True).stdout
    assert [target for target in targets if f"make {target}" not in shown and target != "help"] == []


def local_run_settings() -> set[str]:
    source = (DEPLOY / "local" / "config.py").read_text()
    return set(re.findall(r'environ(?:\.get\(|, )"([A-Z_]+)"', source))


def test_every_make_run_setting_is_in_the_readme_table_and_make_help():
    readme = (DEPLOY.parent / "README.md").read_text()
    table = readme[readme.index("### Configuration"):]
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=DEPLOY.parent, capture_output=True,
                           text=True, check=True).stdout
    assert {"FIRST_OPS_PORT", "EMBEDDED_MONGO_PORT", "VAR_DIR", "INIT_API_KEY"} <= local_run_settings()
    assert {name for name in local_run_settings() if f"`{name}`" not in table} == set()
    assert {name for name in local_run_settings() - {"GATEWAY_HOST", "OPS_HOST"} if name not in shown} == set()


def test_the_readme_links_only_to_what_a_clone_has():
    readme = (DEPLOY.parent / "README.md").read_text()
    assert "../" not in readme
    for target in re.findall(r"\]\((?!https?:|#)([^)#]+)", readme):
        assert (DEPLOY.parent / target).exists(), target
