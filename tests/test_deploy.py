"""The deployment configurations, checked offline against their platforms' own schemas and
against the code they deploy. Kubernetes (`deploy/kubernetes`): rendered by kustomize as
`kubectl apply -k` would, validated against Kubernetes' schemas; the runner services they
name exist, the API depends on exactly the runners deployed, the settings are real settings
with valid values, the grace period covers the drain. BentoCloud (`deploy/bentocloud.yaml`):
read by BentoML's own deployment schema, one entry per service of the Bento. That the split
topology works (the API and each runner as processes of their own, started by the same
environment variables) is `test_operations.py`'s stack."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml
from bentoml._internal.cloud.schemas.schemasv2 import CreateDeploymentSchema
from bentoml._internal.utils.cattr import bentoml_cattr

from config.settings import CONTRACT_ENV_NAMES, ENV_PREFIX, Settings, load_settings
from contract.families import FAMILIES
from harness.processes import ROOT
from lifecycle.drain import RUNNER_EXTRA_SECONDS
from runners.tts_runner import TTS_RUNNERS
from runners.vc_runner import VCRunner

KUBERNETES = ROOT / "deploy" / "kubernetes"
BENTOCLOUD = ROOT / "deploy" / "bentocloud.yaml"
OVERLAYS = sorted(path.name for path in (KUBERNETES / "overlays").iterdir())
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests promise (autoscaling/v2, policy/v1)
NOT_OURS = {"HF_HOME"}  # environment the manifests set for libraries
GPU = "nvidia.com/gpu"


def kubectl() -> str:
    """kubectl with kustomize v4 or later (kubectl 1.21+), which `kubectl apply -k` needs too."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl 1.21 or later is needed to render the manifests (docs/kubernetes.md)")
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run([kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def settings_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The one ConfigMap's data: every pod's settings."""
    [config] = of_kind(docs, "ConfigMap").values()
    return config["data"]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    """The container's literal environment (not what it takes from Secrets)."""
    return {item["name"]: item["value"] for item in container(deployment).get("env", []) if "value" in item}


def secret_env_of(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The container's environment taken from Secrets: name -> (Secret, key)."""
    return {
        item["name"]: (item["valueFrom"]["secretKeyRef"]["name"], item["valueFrom"]["secretKeyRef"]["key"])
        for item in container(deployment).get("env", []) if "secretKeyRef" in item.get("valueFrom", {})
    }


def runner_deployments(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(the BentoML service it serves, the Deployment) for each runner."""
    for deployment in of_kind(docs, "Deployment").values():
        if (service := env_of(deployment).get("BENTOML_SERVE_SERVICE_NAME")) is not None:
            yield service, deployment


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_resource_is_valid_against_the_kubernetes_schema(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on anything unknown or malformed
    assert {doc["kind"] for doc in docs} >= {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


def test_the_api_depends_on_exactly_the_runners_deployed(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    expected = expected_services(settings_data(docs)["CHATTERBOX_MODELS"])
    runners = dict(runner_deployments(docs))
    assert set(runners) == expected

    [api] = [deployment for deployment in of_kind(docs, "Deployment").values() if "BENTOML_SERVE_DEPENDS" in env_of(deployment)]
    depends = dict(pair.split("=", 1) for pair in env_of(api)["BENTOML_SERVE_DEPENDS"].split())
    assert set(depends) == expected
    services = of_kind(docs, "Service")
    for name, url in depends.items():
        host, port = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url).groups()  # type: ignore[union-attr]
        service = services[host]
        assert int(port) in [item["port"] for item in service["spec"]["ports"]]
        pods = runners[name]["spec"]["template"]["metadata"]["labels"]
        assert selects(service["spec"]["selector"], pods), f"Service {host} does not select the pods serving {name}"
        assert [other for other in of_kind(docs, "Deployment").values() if selects(service["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"])] == [runners[name]]


def expected_services(models: str) -> set[str]:
    """The runner services of the models a deployment enables, and VC's."""
    return {TTS_RUNNERS[model].name for model in models.split(",")} | {VCRunner.name}


def settings_of(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a pod with this environment (and its secret) starts with: every name a
    real setting (pydantic ignores an unknown section), every value valid."""
    for name in environment:
        if name not in NOT_OURS and name not in CONTRACT_ENV_NAMES:
            assert name.startswith(ENV_PREFIX) and name.removeprefix(ENV_PREFIX).split("__")[0].lower() in Settings.model_fields, f"{name} is no setting"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("API_KEYS", "from-the-secret")
    return load_settings()  # a misspelt key in a section or a bad value raises ConfigError


def test_the_settings_are_real_settings_with_valid_values(rendered: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    _, docs = rendered
    settings = settings_of(settings_data(docs), monkeypatch)
    deployments = of_kind(docs, "Deployment")
    api_grace = deployments["chatterbox-api"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert api_grace >= settings.shutdown.drain_seconds + 5, "the API needs its drain and a moment to flush before SIGKILL"
    for _, runner in runner_deployments(docs):
        assert runner["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= settings.shutdown.drain_seconds + RUNNER_EXTRA_SECONDS + 5


def test_probes_budgets_and_scaling(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    deployments = of_kind(docs, "Deployment")
    api = container(deployments["chatterbox-api"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health" and api["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert GPU not in api["resources"].get("limits", {})
    for service, runner in runner_deployments(docs):
        probes = container(runner)
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz" and probes["startupProbe"]["httpGet"]["path"] == "/readyz"
        gpus = container(runner)["resources"].get("limits", {}).get(GPU)
        assert (gpus == 1) if overlay == "gpu" else gpus is None, f"{service} on {overlay}"
    for budget in of_kind(docs, "PodDisruptionBudget").values():
        selected = [name for name, deployment in deployments.items() if selects(budget["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])]
        assert len(selected) == 1, f"{budget['metadata']['name']} selects {selected}"
    [autoscaler] = of_kind(docs, "HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "chatterbox-api"
    assert settings_data(docs)["CHATTERBOX_DEVICE"] == {"gpu": "cuda", "cpu": "cpu"}[overlay]


def test_the_api_replicas_share_a_database_from_a_secret(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """Every API replica gets DATABASE_URL from one Secret (several replicas on SQLite would
    each have a database of their own). The GPU overlay expects the operator's Secret for an
    external PostgreSQL; the CPU overlay brings a PostgreSQL and a Secret that points at it."""
    overlay, docs = rendered
    deployments = of_kind(docs, "Deployment")
    secret, key = secret_env_of(deployments["chatterbox-api"])["DATABASE_URL"]
    assert key == "url" and "DATABASE_URL" not in env_of(deployments["chatterbox-api"])
    for _, runner in runner_deployments(docs):
        assert "DATABASE_URL" not in secret_env_of(runner)  # runners keep no metadata
    secrets = of_kind(docs, "Secret")
    if overlay == "gpu":
        assert secret == "chatterbox-database" and not secrets  # created by the operator (docs/kubernetes.md)
        return
    url = base64.b64decode(secrets[secret]["data"][key]).decode()
    host = re.fullmatch(r"postgresql://chatterbox:[^@]+@([a-z0-9-]+):5432/chatterbox", url).group(1)  # type: ignore[union-attr]
    [database] = of_kind(docs, "StatefulSet").values()
    assert selects(of_kind(docs, "Service")[host]["spec"]["selector"], database["spec"]["template"]["metadata"]["labels"])
    password = {item["name"]: item for item in container(database)["env"]}["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password["name"] == secret and base64.b64decode(secrets[secret]["data"][password["key"]]).decode() in url


def test_bentocloud_configures_every_service_of_the_bento(monkeypatch: pytest.MonkeyPatch) -> None:
    written = yaml.safe_load(BENTOCLOUD.read_text())
    config = bentoml_cattr.structure({**written, "bento": "chatterbox-tts-extended-plus:latest"}, CreateDeploymentSchema)
    read = bentoml_cattr.unstructure(config)
    expected = {**written, "bento": "chatterbox-tts-extended-plus:latest"}
    expected.pop("access_authorization")  # false: the default, which BentoML leaves out
    assert read == expected, "a key BentoML does not know is ignored by it: misspelt?"
    environment = {item.name: item.value for item in config.envs or []}
    assert set(config.services) == expected_services(environment["CHATTERBOX_MODELS"]) | {"chatterbox"}
    for name, service in config.services.items():
        service_environment = environment | {item.name: item.value for item in service.envs or [] if item is not None}
        settings_of(service_environment, monkeypatch)
        assert service.scaling is not None and service.instance_type, name
        assert service.instance_type.startswith("gpu" if name != "chatterbox" else "cpu"), name


def test_every_model_family_has_its_runner_overlay() -> None:
    """A family added to the table (`contract/families.py`) needs its runner Deployment too:
    `deploy/kubernetes/base/runners/<name>/` serving its runner service (docs/models.md)."""
    for family in FAMILIES.values():
        overlay = yaml.safe_load((KUBERNETES / "base" / "runners" / family.name / "kustomization.yaml").read_text())
        [patch] = overlay["patches"]
        environment = {item["name"]: item["value"] for operation in yaml.safe_load(patch["patch"]) for item in operation["value"]}
        assert environment["BENTOML_SERVE_SERVICE_NAME"] == family.runner_service, family.name
