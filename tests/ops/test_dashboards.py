"""The observability configuration under ops/ names only metrics that exist, and keeps its promises.

Every PromQL expression (dashboard panels, recording and alerting rules, Grafana alert rules) may
name only: a metric wearon.metrics defines, one of Dramatiq's Prometheus middleware, one of
node-exporter's we rely on, a Prometheus built-in, or a series our recording rules define.
Loki and Alloy cannot run here (CI validates them with their official images), so their configs
are checked for structure: 7-day retention enforced by the compactor, request_id never a label.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tests.skip_policy import PROMTOOL_MISSING
from wearon import metrics

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
DASHBOARDS = sorted((OPS / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((OPS / "prometheus" / "rules").glob("*.yml"))
GRAFANA_RULES = OPS / "grafana" / "provisioning" / "alerting" / "rules.yml"

#: Dramatiq's Prometheus middleware (dramatiq/middleware/prometheus.py), labels queue_name, actor_name.
DRAMATIQ = {
    "dramatiq_messages_total",
    "dramatiq_message_errors_total",
    "dramatiq_message_retries_total",
    "dramatiq_message_rejects_total",
    "dramatiq_messages_inprogress",
    "dramatiq_delayed_messages_inprogress",
    *(f"dramatiq_message_duration_milliseconds{s}" for s in ("_bucket", "_sum", "_count")),
}
#: node-exporter's names (collectors cpu, meminfo, filesystem, loadavg) that ops/ may use.
NODE_EXPORTER = {
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_load1",
    "node_load5",
    "node_load15",
}
#: redis_exporter's (job redis) and blackbox_exporter's (job tls) names that ops/ may use.
REDIS_EXPORTER = {"redis_memory_used_bytes", "redis_memory_max_bytes", "redis_evicted_keys_total", "redis_up"}
BLACKBOX_EXPORTER = {"probe_success", "probe_ssl_earliest_cert_expiry"}
#: What ops/scripts/renew-certs.sh writes for node-exporter's textfile collector.
CERTIFICATE_RENEWAL = {
    "wearon_certificate_renewal_success",
    "wearon_certificate_renewal_last_run_timestamp_seconds",
}
PROMETHEUS_BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def wearon_metric_names() -> set[str]:
    """The sample names wearon.metrics exports (a Counter `x` exports `x_total`, and so on)."""
    names: set[str] = set()
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def recorded_names() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def known_names() -> set[str]:
    exporters = NODE_EXPORTER | REDIS_EXPORTER | BLACKBOX_EXPORTER | CERTIFICATE_RENEWAL
    return wearon_metric_names() | DRAMATIQ | exporters | PROMETHEUS_BUILTIN | recorded_names()


# --- PromQL metric-name extraction ----------------------------------------------------------

#: PromQL words that look like metric names: binary operators, modifiers, grouping, literals.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_KEYWORDS |= {"and", "or", "unless", "offset", "atan2", "inf", "nan"}
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels."""
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "5m", expr)  # Grafana variables
    text = _STRINGS.sub('""', text)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = _GROUPING.sub("", text)
    return {m[1] for m in _IDENT.finditer(text) if not m[2] and m[1].lower() not in _KEYWORDS}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (le) (rate(a_bucket{x="b c", le!~"y"}[5m])) * on (job) group_left (z) up',
            {"a_bucket", "up"},
        ),
        ("histogram_quantile(0.95, sum(rate(b_bucket[$__rate_interval])) by (le)) > 2e+09", {"b_bucket"}),
        ("rec:name:rate5m offset 5m > bool 1 unless absent(c)", {"rec:name:rate5m", "c"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# --- the expressions under ops/ -------------------------------------------------------------


def _rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    """(where, datasource type, expression) for every panel target of every dashboard."""
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in _panels(board["panels"]):
            for t in panel.get("targets", []):
                source = (t.get("datasource") or panel.get("datasource") or {}).get("type", "prometheus")
                yield f"{path.name}: {panel['title']}", source, t["expr"]


def promql_expressions() -> list[tuple[str, str]]:
    exprs = [(where, expr) for where, source, expr in dashboard_queries() if source == "prometheus"]
    exprs += [(f"rule {r.get('record') or r.get('alert')}", r["expr"]) for r in _rules()]
    for group in yaml.safe_load(GRAFANA_RULES.read_text())["groups"]:
        for rule in group["rules"]:
            exprs += [
                (f"grafana rule {rule['title']}", q["model"]["expr"])
                for q in rule["data"]
                if "expr" in q["model"]
            ]
    return exprs


def test_there_are_dashboards_and_rules_to_check() -> None:
    assert {p.stem for p in DASHBOARDS} == {"overview", "pipeline", "api"}
    assert len(promql_expressions()) > 50


def test_every_expression_names_only_exported_metrics() -> None:
    known = known_names()
    unknown = {
        f"{where}: {name}" for where, expr in promql_expressions() for name in metric_names(expr) - known
    }
    assert not unknown, "names no process exports:\n" + "\n".join(sorted(unknown))


def test_every_wearon_metric_appears_on_a_dashboard() -> None:
    used = {
        name
        for where, source, expr in dashboard_queries()
        if source == "prometheus"
        for name in metric_names(expr)
    }
    unused = {
        name
        for name in wearon_metric_names()
        if not name.endswith(("_created", "_sum", "_count"))
        and name not in used
        and name.removesuffix("_bucket") + "_bucket" not in used
    }
    assert not unused, f"exported but on no dashboard: {sorted(unused)}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason=PROMTOOL_MISSING)
def test_every_promql_expression_parses(tmp_path: Path) -> None:
    # Given every PromQL expression as a recording rule (Grafana's $__ variables filled in)
    rules = [
        {"record": f"check:panel_{n}", "expr": re.sub(r"\$__\w+", "5m", expr)}
        for n, (_, expr) in enumerate(promql_expressions())
    ]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    # When promtool checks them, then each one parses
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_logs_query_keeps_request_id_out_of_the_stream_selector() -> None:
    loki = [(where, expr) for where, source, expr in dashboard_queries() if source == "loki"]
    assert loki
    for where, expr in loki:
        selector = re.match(r"[^{]*(\{[^}]*\})", expr)
        assert selector and "request_id" not in selector[1], where
    assert any("| json" in expr and "request_id" in expr for _, expr in loki)


# --- Grafana provisioning -------------------------------------------------------------------


def _load_build_script() -> Any:
    spec = importlib.util.spec_from_file_location("build_dashboards", OPS / "grafana" / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_dashboards_and_alert_rules_are_up_to_date() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in _load_build_script().rendered().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `python ops/grafana/build_dashboards.py`: {stale}"


def test_grafana_alerts_mirror_the_tested_prometheus_alerts() -> None:
    prometheus = {r["alert"]: r for r in _rules() if "alert" in r}
    grafana = {r["title"]: r for g in yaml.safe_load(GRAFANA_RULES.read_text())["groups"] for r in g["rules"]}
    assert grafana.keys() == prometheus.keys()
    for name, rule in grafana.items():
        series, op, value = prometheus[name]["expr"].split()
        query, _, threshold = rule["data"]
        evaluator = threshold["model"]["conditions"][0]["evaluator"]
        assert query["model"]["expr"] == series
        assert evaluator == {"type": {">": "gt", "<": "lt"}[op], "params": [float(value)]}
        assert rule["for"] == prometheus[name]["for"]
        assert rule["labels"] == prometheus[name]["labels"]


def test_the_spec_alerts_exist() -> None:
    names = {r["alert"] for r in _rules() if "alert" in r}
    assert {
        "TaskErrorRateHigh",
        "ApiHealthDegraded",
        "HostCpuHigh",
        "HostDiskLow",
        "PipelineStalled",
        "RefundsSpiking",
        "DeadLettersGrowing",
        "BridgeLagHigh",
        "Watchdog",
        "RedisMemoryHigh",
        "RedisEvictingKeys",
        "TlsCertificateExpiringSoon",
        "TlsCertificateRenewalFailed",
        "DeferredRefundsPending",
    } <= names


def test_alerting_provisioning_routes_everything_to_whatsapp() -> None:
    base = OPS / "grafana" / "provisioning" / "alerting"
    contact = yaml.safe_load((base / "contact-points.yml").read_text())["contactPoints"][0]
    receiver = contact["receivers"][0]
    assert receiver["type"] == "webhook"
    assert receiver["settings"]["url"].startswith("http://whatsapp-webhook:8080/whatsapp/send/grafana-alert/")
    assert receiver["settings"]["authorization_scheme"] == "Bearer"
    assert receiver["settings"]["authorization_credentials"] == "${WHATSAPP_WEBHOOK_TOKEN}"
    policy = yaml.safe_load((base / "policies.yml").read_text())["policies"][0]
    assert policy["receiver"] == contact["name"]
    # Grafana expands $NAME in provisioning files: a `$` in a generated rule would be eaten.
    assert "$" not in GRAFANA_RULES.read_text()


def test_the_watchdog_pings_the_dead_mans_switch_and_nothing_else() -> None:
    base = OPS / "grafana" / "provisioning" / "alerting"
    provisioned = yaml.safe_load((base / "contact-points.yml").read_text())["contactPoints"]
    contacts = {c["name"]: c for c in provisioned}
    (receiver,) = contacts["deadmansswitch"]["receivers"]
    assert receiver["type"] == "webhook" and receiver["settings"]["url"] == "${DEADMANSSWITCH_URL}"
    # Given the root policy (WhatsApp) and its routes, the Watchdog matches one route, which stops there
    policy = yaml.safe_load((base / "policies.yml").read_text())["policies"][0]
    (route,) = [r for r in policy["routes"] if ["alertname", "=", "Watchdog"] in r["object_matchers"]]
    assert route["receiver"] == "deadmansswitch" and route["continue"] is False
    # and repeats often enough for a 5-minute check period with a 10-minute grace.
    assert route["repeat_interval"] == "5m" and route["group_interval"] == "1m"
    watchdog = [r for r in _rules() if r.get("alert") == "Watchdog"]
    assert watchdog and watchdog[0]["expr"] == "wearon:watchdog:bool > 0"


def test_dashboards_and_rules_use_the_provisioned_datasources() -> None:
    provisioned = yaml.safe_load((OPS / "grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    used = {
        (t.get("datasource") or p["datasource"])["uid"]
        for path in DASHBOARDS
        for p in _panels(json.loads(path.read_text())["panels"])
        if "datasource" in p
        for t in p.get("targets", [{}])
    }
    grafana_rules = yaml.safe_load(GRAFANA_RULES.read_text())["groups"][0]["rules"]
    used |= {q["datasourceUid"] for r in grafana_rules for q in r["data"]} - {"__expr__"}
    assert used <= uids


# --- Loki and Alloy -------------------------------------------------------------------------


def test_loki_keeps_logs_seven_days_and_enforces_it() -> None:
    loki = yaml.safe_load((OPS / "loki" / "loki.yml").read_text())
    assert loki["limits_config"]["retention_period"] == "168h"
    assert loki["compactor"]["retention_enabled"] is True
    assert loki["compactor"]["delete_request_store"] == "filesystem"
    # Structured metadata (where request_id lives) needs TSDB and schema v13.
    assert loki["limits_config"].get("allow_structured_metadata", True) is True
    assert all(c["store"] == "tsdb" and c["schema"] == "v13" for c in loki["schema_config"]["configs"])


def alloy_block(text: str, name: str) -> str:
    """The body of the first `name { ... }` block (or `name = { ... }` object), nested braces included."""
    opening = re.search(re.escape(name) + r"\s*=?\s*\{", text)
    if opening is None:
        raise ValueError(f"no block {name}")
    start = opening.end()
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise ValueError(f"unbalanced block {name}")


def alloy_keys(block: str) -> set[str]:
    return set(re.findall(r"^\s*(\w+)\s*=", alloy_block(block, "values"), re.MULTILINE))


def test_alloy_parses_json_and_keeps_request_id_out_of_labels() -> None:
    text = re.sub(r"^\s*//.*$", "", (OPS / "alloy" / "config.alloy").read_text(), flags=re.MULTILINE)
    labels = alloy_keys(alloy_block(text, "stage.labels"))
    metadata = alloy_keys(alloy_block(text, "stage.structured_metadata"))
    assert "level" in labels
    assert "request_id" not in labels and "request_id" in metadata
    assert {"level", "request_id"} <= set(re.findall(r"(\w+)\s*=", alloy_block(text, "stage.json")))
    assert text.count("stage.labels") == 1 and "stage.label_keep" not in text
    assert "request_id" not in alloy_block(text, 'discovery.relabel "containers"')
    # Both discovery and the log source talk to the local Docker socket.
    assert len(re.findall(r'host\s*=\s*"unix:///var/run/docker.sock"', text)) == 2


def test_alloy_reads_the_docker_socket_read_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in compose["services"]["alloy"]["volumes"]
