"""The production overlay's monitoring: PrometheusRule, ServiceMonitors, Grafana dashboard.

Rendered like the rest of the deployment (tests/deploy/kustomize.py). Every metric an alert
or a dashboard panel uses must be one the services export (found in the code: every
prometheus_client Counter/Gauge/Histogram/Summary of shared/ and services/) or one
RabbitMQ's prometheus plugin exports (RABBITMQ_METRICS), so a misspelt or renamed metric
fails here instead of leaving an alert that never fires or an empty panel.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from shared.config import SERVICES
from tests.deploy import code_facts
from tests.deploy.kustomize import build

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "deploy" / "k8s" / "overlays" / "production"
DASHBOARD_FILE = PRODUCTION / "monitoring" / "asn-dashboard.json"
MONITORING = "monitoring.coreos.com/v1"
# RabbitMQ's rabbitmq_prometheus plugin, scraped at /metrics/per-object (servicemonitors.yaml)
# so that they carry the "queue" and "vhost" labels (the aggregated /metrics has no queue
# label; /metrics/detailed would call them rabbitmq_detailed_queue_*). The names of the
# plugin's metrics.md; only those the rules and the dashboard use.
RABBITMQ_METRICS = {"rabbitmq_queue_messages", "rabbitmq_queue_messages_ready",
                    "rabbitmq_queue_messages_unacked", "rabbitmq_queue_consumers"}
# The alerts docs/operations.md describes, by what they watch: alert name -> a metric its
# expression must use.
REQUIRED_ALERTS = {
    "AsnDeadLetterQueueNotEmpty": "rabbitmq_queue_messages",
    "AsnEventsDeadLettered": "asn_events_dead_lettered_total",
    "AsnQueueWithoutConsumers": "rabbitmq_queue_consumers",
    "AsnOutboxLag": "asn_outbox_oldest_unsent_seconds",
    "AsnOutboxBacklogRising": "asn_outbox_backlog",
    "AsnOutboxRelayNotLeading": "asn_outbox_relay_leader",
    "AsnBackgroundLoopNotLeading": "asn_background_leading",
    "AsnBackgroundLoopFailing": "asn_background_failures_total",
    "AsnCertificateNumberingStalled": "asn_certification_pending_issues",
    "AsnReportingFiguresLag": "asn_reporting_counter_deltas_pending",
    "AsnHttpServerErrors": "asn_http_requests_total",
}
# What the dashboard must show (issue 22): a metric per topic.
DASHBOARD_TOPICS = {
    "queues": "rabbitmq_queue_messages_ready",
    "throughput by event type": "asn_events_consumed_total",
    "handler latency": "asn_handler_seconds_bucket",
    "outbox lag": "asn_outbox_oldest_unsent_seconds",
    "HTTP": "asn_http_requests_total",
}
# The Prometheus Operator's API types (pkg/apis/monitoring/v1): kubernetes-validate has no
# schema for them, so the fields used are checked here. Only what these manifests may use.
SERVICE_MONITOR_SPEC = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"}
ENDPOINT_FIELDS = {"port", "path", "scheme", "interval", "scrapeTimeout", "params", "honorLabels",
                   "relabelings", "metricRelabelings", "tlsConfig"}
RULE_FIELDS = {"alert", "expr", "for", "labels", "annotations"}
SEVERITIES = {"critical", "warning", "info"}

# --- metric names in PromQL ----------------------------------------------------------------

PROMQL_WORDS = {
    # aggregations and their modifiers, binary operators and keywords
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "group",
    "count_values", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless", "bool", "offset",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "delta",
    "deriv", "exp", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace",
    "label_join", "ln", "log2", "log10", "predict_linear", "rate", "resets", "round", "scalar", "sort",
    "sort_desc", "sqrt", "time", "timestamp", "vector", "avg_over_time", "min_over_time",
    "max_over_time", "sum_over_time", "count_over_time", "last_over_time", "quantile_over_time",
    "stddev_over_time", "present_over_time",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_:][\w:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana query with $variables) selects."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)  # label matchers: {queue=~"..."}
    text = _RANGE.sub("", text)  # ranges and subqueries: [5m], [$__rate_interval]
    text = _LABEL_LIST.sub(r"\1", text)  # grouping labels: by (job, type)
    text = _VARIABLE.sub("", text)
    text = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?[smhdwy]?\b", "", text)  # numbers and durations
    return {name for name in _IDENTIFIER.findall(text) if name not in PROMQL_WORDS}


def _exported_names() -> set[str]:
    """Every series name the services' prometheus_client metrics export."""
    names: set[str] = set()
    for package in code_facts.PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            if "prometheus_client" not in source:
                continue
            for node in ast.walk(ast.parse(source)):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in {"Counter", "Gauge", "Histogram", "Summary"} and node.args
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    continue
                name = node.args[0].value
                if node.func.id == "Counter":  # prometheus_client adds _total when it is missing
                    names.add(name if name.endswith("_total") else f"{name}_total")
                elif node.func.id == "Gauge":
                    names.add(name)
                elif node.func.id == "Histogram":  # the bare name selects nothing
                    names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
                else:
                    names |= {name, f"{name}_sum", f"{name}_count"}
    return names


EXPORTED = _exported_names()
KNOWN = EXPORTED | RABBITMQ_METRICS


def unknown_metrics(exprs: dict[str, str]) -> dict[str, set[str]]:
    return {where: unknown for where, expr in exprs.items() if (unknown := metric_names(expr) - KNOWN)}


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def production() -> list[dict]:
    return build(PRODUCTION)


def _of_kind(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["kind"] == kind]


@pytest.fixture(scope="module")
def rules(production) -> list[dict]:
    found = _of_kind(production, "PrometheusRule")
    assert len(found) == 1, f"expected one PrometheusRule, found {len(found)}"
    assert found[0]["apiVersion"] == MONITORING
    return [rule for group in found[0]["spec"]["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard(production) -> dict:
    labelled = [r for r in _of_kind(production, "ConfigMap")
                if (r["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"]
    assert len(labelled) == 1, "expected one ConfigMap labelled grafana_dashboard: \"1\""
    data = labelled[0]["data"]
    assert data == {DASHBOARD_FILE.name: DASHBOARD_FILE.read_text()}, "the dashboard ConfigMap is not the JSON file"
    return json.loads(data[DASHBOARD_FILE.name])


def _panel_queries(dashboard: dict) -> dict[str, str]:
    queries = {}

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                queries[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]

    walk(dashboard["panels"])
    return queries


# --- the check itself ----------------------------------------------------------------------

def test_metric_names_are_read_from_promql_and_the_code():
    assert metric_names('sum by (job, le) (rate(asn_handler_seconds_bucket{job=~"$job",type!="a b"}[5m])) > 1') \
        == {"asn_handler_seconds_bucket"}
    assert metric_names("a_total / on(job) group_left(x) b unless absent(c[$__rate_interval])") == {"a_total", "b", "c"}
    assert metric_names('histogram_quantile(0.95, x_bucket) > 1e3 and y offset 5m') == {"x_bucket", "y"}
    # what the code defines, with the suffixes prometheus_client gives each type
    assert {"asn_events_consumed_total", "asn_outbox_backlog", "asn_handler_seconds_bucket",
            "asn_background_passes_total", "asn_background_pass_seconds_count",
            "asn_reporting_counter_deltas_folded_total"} <= EXPORTED
    assert "asn_handler_seconds" not in EXPORTED and "asn_outbox_backlog_total" not in EXPORTED


def test_a_misspelt_or_unsuffixed_metric_is_caught(rules, dashboard):
    rule = next(r for r in rules if r["alert"] == "AsnOutboxLag")
    assert not unknown_metrics({"rule": rule["expr"]})
    misspelt = rule["expr"].replace("asn_outbox_oldest_unsent_seconds", "asn_outbox_oldest_unset_seconds")
    assert unknown_metrics({"rule": misspelt}) == {"rule": {"asn_outbox_oldest_unset_seconds"}}
    query = next(q for q in _panel_queries(dashboard).values() if "asn_handler_seconds_bucket" in q)
    assert unknown_metrics({"panel": query.replace("asn_handler_seconds_bucket", "asn_handler_seconds")})


# --- alerts --------------------------------------------------------------------------------

def test_every_metric_an_alert_uses_is_exported_by_a_service_or_rabbitmq(rules):
    assert not unknown_metrics({rule["alert"]: rule["expr"] for rule in rules}), \
        "alerts use metrics nobody exports (shared/metrics.py, shared/background.py, services/, RABBITMQ_METRICS)"


def test_the_alerts_of_the_operations_guide_are_deployed(rules):
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules), "two alerts share a name"
    for alert, metric in REQUIRED_ALERTS.items():
        assert alert in by_name, f"the alert {alert} is missing"
        assert metric in metric_names(by_name[alert]["expr"]), f"{alert} does not watch {metric}"


def test_every_alert_has_the_fields_of_the_rule_type_a_severity_and_words_for_the_operator(rules):
    for rule in rules:
        assert set(rule) <= RULE_FIELDS and {"alert", "expr"} <= set(rule), rule.get("alert")
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]
        expr = _STRING.sub('""', rule["expr"])
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), f"{rule['alert']}: unbalanced {opening}{closing}"


# --- scrape targets ------------------------------------------------------------------------

def _selects(monitor: dict, service: dict) -> bool:
    wanted = monitor["spec"]["selector"]["matchLabels"]
    labels = service["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_scraped_on_the_port_and_path_it_serves_metrics_on(production, service):
    services = _of_kind(production, "Service")
    monitors = [m for m in _of_kind(production, "ServiceMonitor") if any(_selects(m, s) for s in services
                                                                         if s["metadata"]["name"] == service)]
    assert len(monitors) == 1, f"expected one ServiceMonitor selecting the Service {service}"
    monitor = monitors[0]
    assert monitor["apiVersion"] == MONITORING
    assert set(monitor["spec"]) <= SERVICE_MONITOR_SPEC
    assert [s["metadata"]["name"] for s in services if _selects(monitor, s)] == [service], \
        "the ServiceMonitor selects other Services too"
    target = next(s for s in services if s["metadata"]["name"] == service)
    assert monitor["metadata"]["namespace"] == target["metadata"]["namespace"]
    ports = {port["name"] for port in target["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= ENDPOINT_FIELDS
        assert endpoint["port"] in ports, f"{service} has no port named {endpoint['port']}"
        assert endpoint["path"] == "/metrics" and code_facts.serves(service, "GET", "/metrics")


def test_rabbitmq_is_scraped_per_object_on_the_operators_prometheus_port(production):
    cluster = next(r for r in production if r["kind"] == "RabbitmqCluster")
    # The Cluster Operator labels the cluster's Service with these (and names its port "prometheus").
    operator_labels = {"app.kubernetes.io/name": cluster["metadata"]["name"],
                       "app.kubernetes.io/component": "rabbitmq", "app.kubernetes.io/part-of": "rabbitmq"}
    monitors = [m for m in _of_kind(production, "ServiceMonitor")
                if _selects(m, {"metadata": {"labels": operator_labels}})]
    assert len(monitors) == 1
    assert set(monitors[0]["spec"]) <= SERVICE_MONITOR_SPEC
    assert [(e["port"], e["path"]) for e in monitors[0]["spec"]["endpoints"]] == [("prometheus", "/metrics/per-object")]


# --- dashboard -----------------------------------------------------------------------------

def test_every_metric_a_dashboard_panel_uses_is_exported_by_a_service_or_rabbitmq(dashboard):
    queries = _panel_queries(dashboard)
    assert queries
    assert not unknown_metrics(queries), "dashboard panels query metrics nobody exports"


def test_the_dashboard_shows_queues_throughput_latency_outbox_lag_and_http(dashboard):
    used = set().union(*(metric_names(q) for q in _panel_queries(dashboard).values()))
    for topic, metric in DASHBOARD_TOPICS.items():
        assert metric in used, f"no panel shows {topic} ({metric})"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]
    datasources = {target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel.get("targets", [])}
    assert datasources == {"${datasource}"}
    assert "datasource" in {variable["name"] for variable in dashboard["templating"]["list"]}


def test_the_operations_guide_points_to_the_deployed_rules_and_dashboard():
    guide = (ROOT / "docs" / "operations.md").read_text()
    for path in ("monitoring/prometheusrule.yaml", "monitoring/servicemonitors.yaml", "monitoring/asn-dashboard.json"):
        assert path in guide, f"docs/operations.md does not mention {path}"
