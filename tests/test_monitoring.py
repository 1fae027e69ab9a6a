"""The monitoring kit (`deploy/monitoring`): the Prometheus config and alert rules pass
`promtool`'s checks and the rules' unit tests, the Kubernetes scrape job keeps exactly the
pods the manifests annotate, and every metric (and route) the alerts and the Grafana
dashboard query is one the served stack really exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from harness.processes import ROOT
from harness.stacks import RunningService
from harness.testdata import read_testdata

MONITORING = ROOT / "deploy" / "monitoring"
PROMTOOL = Path(sys.executable).parent / "promtool"  # make puts Debian's there
METRIC = re.compile(r"\b(?:bentoml|chatterbox)_[a-z_]+\b")
ROUTE = re.compile(r'endpoint="([^"]+)"')


def promtool(*args: str) -> str:
    done = subprocess.run([str(PROMTOOL), *args], cwd=MONITORING, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def queries() -> list[str]:
    rules = [rule["expr"] for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for rule in group["rules"]]
    panels = json.loads((MONITORING / "grafana-dashboard.json").read_text())["panels"]
    return rules + [target["expr"] for panel in panels for target in panel["targets"]]


def test_config_and_rules_pass_promtool_and_the_rules_unit_tests() -> None:
    promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", "alerts.yml")
    promtool("test", "rules", "alerts_test.yml")  # each alert fires where it should and only there


def test_the_kubernetes_scrape_job_keeps_the_pods_the_manifests_annotate() -> None:
    [job] = yaml.safe_load((MONITORING / "scrape-kubernetes.yml").read_text())["scrape_configs"]
    keeps = {rule["source_labels"][0]: rule["regex"] for rule in job["relabel_configs"] if rule.get("action") == "keep"}
    base = ROOT / "deploy" / "kubernetes" / "base"
    pods = [doc["spec"]["template"] for path in (base / "api.yaml", base / "runner" / "runner.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc["kind"] == "Deployment"]
    part_of = yaml.safe_load((base / "kustomization.yaml").read_text())["labels"][0]["pairs"]["app.kubernetes.io/part-of"]
    assert re.fullmatch(keeps["__meta_kubernetes_pod_label_app_kubernetes_io_part_of"], part_of)
    for pod in pods:
        annotations = pod["metadata"]["annotations"]
        assert re.fullmatch(keeps["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], annotations["prometheus.io/scrape"])
        assert annotations["prometheus.io/path"] == "/metrics" and annotations["prometheus.io/port"] == str(pod["spec"]["containers"][0]["ports"][0]["containerPort"])


def test_every_metric_and_route_queried_is_exported(local_stack: RunningService) -> None:
    created = local_stack.client.post("/api/v1/voice", files={"file": ("alex.wav", read_testdata("voice_alex.wav"))}, data={"name": "monitored", "overwrite": "true"})
    assert created.status_code in (200, 201), created.text
    assert local_stack.client.post("/api/v1/tts", json={"text": "Counted.", "voice": "monitored"}).status_code == 200  # the chatterbox_* metrics exist from first use
    converted = local_stack.client.post("/api/v1/vc", files={"input_audio": ("source.wav", read_testdata("voice_bella.wav"))}, data={"target_voice": "monitored"})
    assert converted.status_code == 200, converted.text  # VC's tokenizer is what BentoML's adaptive batching serves
    exported = local_stack.client.get("/metrics").text
    names = set(re.findall(r"^([a-z_]+)[{ ]", exported, re.MULTILINE))
    used = {name for query in queries() for name in METRIC.findall(query)}
    assert used and not used - names, f"queried but not exported: {sorted(used - names)}"
    routes = {route for query in queries() for route in ROUTE.findall(query)}
    assert routes and not {route for route in routes if f'endpoint="{route}"' not in exported}
    assert local_stack.client.delete("/api/v1/voice/monitored", params={"confirm": "true"}).status_code == 200
