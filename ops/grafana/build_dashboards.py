#!/usr/bin/env python3
"""Generates the Grafana dashboards and alert rules that ops/grafana/provisioning loads.

    python ops/grafana/build_dashboards.py          # rewrite the generated files
    python ops/grafana/build_dashboards.py --check  # exit 1 if a generated file is stale

Writes ops/grafana/dashboards/{overview,pipeline,api}.json and
ops/grafana/provisioning/alerting/rules.yml. The Grafana alert rules are derived from the
Prometheus alerting rules in ops/prometheus/rules/alerts.yml (the ones `promtool test rules`
exercises): each of those compares one recorded series with a threshold, and the Grafana rule
does the same comparison, for the same `for`, and notifies WhatsApp.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

OPS = Path(__file__).resolve().parents[1]
DASHBOARDS = OPS / "grafana" / "dashboards"
ALERT_RULES = OPS / "grafana" / "provisioning" / "alerting" / "rules.yml"
PROMETHEUS_ALERTS = OPS / "prometheus" / "rules" / "alerts.yml"

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
RATE = "$__rate_interval"
Panel = dict[str, Any]


# --- panels -------------------------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": PROMETHEUS, "expr": expr, "legendFormat": legend or "__auto"}


def timeseries(title: str, targets: list[dict[str, Any]], unit: str = "short", **extra: Any) -> Panel:
    """A graph; `threshold` draws a red line, `width`/`height` size it, other keys go in as-is."""
    for ref, t in zip("ABCDEFGH", targets, strict=False):
        t["refId"] = ref
    description = extra.pop("description", "")
    defaults: dict[str, Any] = {"unit": unit, "custom": {"fillOpacity": 10, "showPoints": "never"}}
    if "threshold" in extra:
        defaults["thresholds"] = _thresholds(extra.pop("threshold"))
        defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        **extra,
    }


def stat(
    title: str, expr: str, unit: str = "short", mappings: list[Any] | None = None, **extra: Any
) -> Panel:
    description = extra.pop("description", "")
    defaults: dict[str, Any] = {"unit": unit, "mappings": mappings or []}
    if "threshold" in extra:
        defaults["thresholds"] = _thresholds(extra.pop("threshold"))
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "targets": [target(expr)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"]},
        },
        **extra,
    }


def quantiles(title: str, histogram: str, unit: str = "s", by: str = "", scale: str = "") -> Panel:
    """p50/p95/p99 of a Prometheus histogram (`histogram` is the name without `_bucket`)."""
    grouping = f"le, {by}" if by else "le"
    legend = f"{{{{{by}}}}} p{{q}}" if by else "p{q}"
    return timeseries(
        title,
        [
            target(
                f"histogram_quantile({q}, sum by ({grouping}) (rate({histogram}_bucket[{RATE}]))){scale}",
                legend.format(q=int(q * 100)),
            )
            for q in (0.5, 0.95, 0.99)
        ],
        unit=unit,
    )


def per_minute(title: str, counter: str, by: str, selector: str = "", **extra: Any) -> Panel:
    expr = f"sum by ({by}) (rate({counter}{selector}[{RATE}])) * 60"
    return timeseries(title, [target(expr, f"{{{{{by}}}}}")], unit="short", **extra)


def queue_depths() -> Panel:
    """Each queue once with N bridges: a shared queue is reported by the bridge holding the lease
    (max, not sum, over a handover's overlap); each bridge's own in-flight list is summed."""
    return timeseries(
        "Queue depths",
        [
            target('max by (queue) (wearon_queue_depth{queue!="processing"})', "{{queue}}"),
            target('sum(wearon_queue_depth{queue="processing"})', "processing (every bridge)"),
        ],
    )


def logs(title: str, expr: str) -> Panel:
    return {
        "type": "logs",
        "title": title,
        "description": "Type a request_id in the variable above to follow one request through every process.",
        "datasource": LOKI,
        "targets": [{"refId": "A", "datasource": LOKI, "expr": expr, "queryType": "range"}],
        "options": {
            "showTime": True,
            "wrapLogMessage": True,
            "enableLogDetails": True,
            "sortOrder": "Descending",
            "dedupStrategy": "none",
        },
    }


def loki_timeseries(title: str, expr: str, legend: str) -> Panel:
    panel = timeseries(title, [], unit="short")
    panel["datasource"] = LOKI
    panel["targets"] = [{"refId": "A", "datasource": LOKI, "expr": expr, "legendFormat": legend}]
    return panel


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def _thresholds(value: float) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}, {"color": "red", "value": value}],
    }


HEALTH_MAPPINGS = [
    {
        "type": "value",
        "options": {"1": {"text": "OK", "color": "green"}, "0": {"text": "DEGRADED", "color": "red"}},
    }
]


# --- layout -------------------------------------------------------------------------------


def layout(panels: list[Panel]) -> list[Panel]:
    """Rows span the width; other panels flow two per line (full width when `width` is 24)."""
    x = y = 0
    line_height = 0
    for n, panel in enumerate(panels, start=1):
        panel["id"] = n
        if panel["type"] == "row":
            y += line_height
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            x, y, line_height = 0, y + 1, 0
            continue
        width = panel.pop("width", 12)
        height = panel.pop("height", 8)
        if x + width > 24:
            x, y, line_height = 0, y + line_height, 0
        panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
        x += width
        line_height = max(line_height, height)
    return panels


def dashboard(
    uid: str, title: str, panels: list[Panel], variables: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["wearon"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables or []},
        "annotations": {"list": []},
        "panels": layout(panels),
    }


# --- dashboards ---------------------------------------------------------------------------


def overview() -> dict[str, Any]:
    services = ["api-1", "api-2", "bridge", "worker", "scheduler", "nginx", "redis", "grafana", "prometheus"]
    variables = [
        {
            "type": "custom",
            "name": "service",
            "label": "Compose service",
            "query": ",".join(services),
            "includeAll": True,
            "allValue": ".+",
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
        },
        {"type": "textbox", "name": "request_id", "label": "request_id", "query": ""},
    ]
    log_query = '{compose_service=~"$service"} | json | request_id=~"${request_id:regex}.*"'
    panels = [
        row("Health"),
        stat(
            "API health",
            "wearon:api_health_ok:min",
            mappings=HEALTH_MAPPINGS,
            width=6,
            height=5,
            description="0 when any API replica reports degraded (/health) or cannot be scraped.",
        ),
        stat(
            "Firing alerts",
            'count(ALERTS{alertstate="firing", alertname!="Watchdog"}) or vector(0)',
            threshold=1,
            width=6,
            height=5,
            description="Watchdog, always firing for the dead-man's switch, is not counted.",
        ),
        stat(
            "Scrape targets down", "sum(job:targets_down:count) or vector(0)", threshold=1, width=6, height=5
        ),
        stat(
            "Generation error ratio (5m)",
            "wearon:generation_error_ratio:rate5m",
            unit="percentunit",
            threshold=0.1,
            width=6,
            height=5,
        ),
        timeseries("Scrape targets up, by job", [target("sum by (job) (up)", "{{job}}")]),
        queue_depths(),
        row("Host (node-exporter)"),
        timeseries(
            "CPU utilisation",
            [target("instance:node_cpu_utilisation:rate2m", "{{instance}}")],
            unit="percentunit",
            threshold=0.85,
            width=8,
        ),
        timeseries(
            "Memory utilisation",
            [target("instance:node_memory_utilisation:ratio", "{{instance}}")],
            unit="percentunit",
            width=8,
        ),
        timeseries(
            "Free disk, fullest filesystem",
            [target("instance:node_filesystem_avail_bytes:min", "{{instance}}")],
            unit="bytes",
            threshold=2e9,
            width=8,
        ),
        row("Redis and TLS"),
        timeseries(
            "Redis memory (share of maxmemory)",
            [target("wearon:redis_memory_used:ratio", "used / maxmemory")],
            unit="percentunit",
            threshold=0.85,
            width=6,
            description="redis-exporter; noeviction: writes fail when full (RedisMemoryHigh).",
        ),
        timeseries(
            "Redis memory and evicted keys",
            [
                target('redis_memory_used_bytes{job="redis"}', "used bytes"),
                target('redis_memory_max_bytes{job="redis"}', "maxmemory"),
                target("wearon:redis_evicted_keys:increase15m", "evicted in 15 min"),
            ],
            width=6,
            description="Any eviction may lose a task (RedisEvictingKeys).",
        ),
        timeseries(
            "TLS certificate: days left",
            [target("wearon:tls_certificate_expiry_seconds:min / 86400", "days left")],
            width=6,
            description="The certificate Nginx serves, probed by blackbox-exporter; "
            "TlsCertificateExpiringSoon fires under 14 days.",
        ),
        timeseries(
            "Certificate renewal (renew-certs.sh)",
            [
                target('wearon_certificate_renewal_success{job="node"}', "last run ok"),
                target(
                    '(time() - wearon_certificate_renewal_last_run_timestamp_seconds{job="node"}) / 3600',
                    "hours since last run",
                ),
            ],
            width=6,
            description="Written by the daily cron job for node-exporter (TlsCertificateRenewalFailed).",
        ),
        row("Logs (Loki)"),
        loki_timeseries(
            "Error lines per minute, by service",
            'sum by (compose_service) (count_over_time({compose_service=~"$service", level="ERROR"}[1m]))',
            "{{compose_service}}",
        )
        | {"width": 24, "height": 6},
        logs("Logs (filter by request_id above)", log_query) | {"width": 24, "height": 14},
    ]
    return dashboard("wearon-overview", "WearOn / Overview", panels, variables)


def pipeline() -> dict[str, Any]:
    panels = [
        row("Throughput and outcomes"),
        per_minute("Generations per minute, by outcome", "wearon_generations_total", "outcome"),
        per_minute(
            "Failures per minute, by reason", "wearon_generations_total", "reason", '{outcome="failed"}'
        ),
        timeseries(
            "Error ratio (5m)",
            [target("wearon:generation_error_ratio:rate5m", "error ratio")],
            unit="percentunit",
            threshold=0.1,
            description="Failed / terminal generations; empty below 5 tasks in 5 minutes.",
        ),
        per_minute("Generations per minute, by channel", "wearon_generations_total", "channel"),
        row("Latency"),
        quantiles("Generation time (created_at to completion)", "wearon_generation_duration_seconds"),
        quantiles("Image provider latency", "wearon_provider_request_duration_seconds"),
        per_minute(
            "Image provider responses per minute, by status (429 = throttled)",
            "wearon_provider_requests_total",
            "status",
        ),
        quantiles("Wait on our provider rate limiter", "wearon_rate_limiter_wait_seconds"),
        quantiles(
            "Rate slot to send (kept under half of OPENAI_RATE_MARGIN_MS)", "wearon_rate_slot_to_send_seconds"
        ),
        timeseries(
            "Rate slots given up and taken again, per minute (sends held up)",
            [target(f"sum(rate(wearon_rate_slots_retaken_total[{RATE}])) * 60", "retaken")],
        ),
        row("Queues and bridge"),
        queue_depths(),
        timeseries(
            "Oldest dead letter's age, by store",
            [target("max by (store) (wearon_dead_letter_oldest_age_seconds)", "{{store}}")],
            unit="s",
            threshold=86400,
            description="DeadLettersAging fires past a day; dead letters are deleted after "
            "DEAD_LETTER_RETENTION_DAYS. `wearon-admin dead list` shows them.",
        ),
        quantiles("Bridge lag (now - created_at)", "wearon_bridge_lag_seconds"),
        timeseries(
            "Bridge: tasks moved / invalid per minute",
            [
                target(f"sum(rate(wearon_bridge_tasks_moved_total[{RATE}])) * 60", "moved"),
                target(
                    f"sum by (reason) (rate(wearon_bridge_tasks_invalid_total[{RATE}])) * 60",
                    "invalid: {{reason}}",
                ),
            ],
        ),
        timeseries(
            "Stuck sessions swept and skipped (per hour)",
            [
                target("sum(increase(wearon_stuck_sessions_swept_total[1h]))", "swept"),
                target("sum(increase(wearon_stuck_sessions_skipped_total[1h]))", "skipped: refund refused"),
            ],
        ),
        row("Credits"),
        timeseries(
            "Paid images kept until stored, and uploads retried in place (per minute)",
            [
                target(f"sum by (event) (rate(wearon_kept_results_total[{RATE}])) * 60", "{{event}}"),
                target(f"sum(rate(wearon_storage_upload_retries_total[{RATE}])) * 60", "upload retried"),
            ],
            description="reused: a retry stored an image already paid for, instead of a second call.",
        ),
        timeseries(
            "Claim leases renewed, failed and lost (per minute)",
            [
                target(
                    f"sum by (outcome) (rate(wearon_claim_lease_renewals_total[{RATE}])) * 60", "{{outcome}}"
                )
            ],
            description="A running attempt renews its session's lease, so a copy of its message "
            "redelivered meanwhile waits instead of calling the provider again. lost: a lease ran out "
            "under a live attempt (renewals failed for 20 s); a second provider call may follow.",
        ),
        timeseries(
            "Credits refunded per hour, by channel",
            [target("sum by (channel) (increase(wearon_credits_refunded_total[1h]))", "{{channel}}")],
        ),
        timeseries(
            "Credits refunded in the last 15 minutes",
            [target("wearon:credits_refunded:increase15m", "refunds")],
            threshold=10,
            description="RefundsSpiking fires above 10.",
        ),
        timeseries(
            "Deferred refunds: owed now, deferred and given up per hour",
            [
                target("wearon:deferred_refunds_pending:sum", "owed now"),
                target(
                    "sum by (reason) (increase(wearon_refunds_deferred_total[1h]))", "deferred: {{reason}}"
                ),
                target(
                    "sum by (reason) (increase(wearon_deferred_refunds_given_up_total[1h]))",
                    "given up: {{reason}}",
                ),
            ],
            description="Refunds the store refused when the generation failed, tried again until it "
            "takes them; given up after STUCK_SESSION_AFTER_S, for the stuck-session sweep.",
        ),
        timeseries(
            "Longest-owed deferred refund",
            [target("max(wearon_deferred_refund_oldest_seconds)", "owed for")],
            unit="s",
            threshold=600,
            description="From its message's timestamp, also while a worker tries it; "
            "DeferredRefundsPending fires above 10 minutes.",
        ),
        timeseries(
            "Misconfiguration errors per hour, by call and code",
            [
                target(
                    "sum by (call, code) (increase(wearon_misconfiguration_errors_total[1h]))",
                    "{{call}} {{code}}",
                )
            ],
            description="Calls our database or storage refused in a way no retry changes "
            "(DependencyMisconfigured).",
        ),
        row("Dramatiq workers"),
        timeseries(
            "Messages per minute, by actor",
            [
                target(
                    f"sum by (actor_name) (rate(dramatiq_messages_total[{RATE}])) * 60",
                    "processed {{actor_name}}",
                ),
                target(
                    f"sum by (actor_name) (rate(dramatiq_message_errors_total[{RATE}])) * 60",
                    "errors {{actor_name}}",
                ),
                target(
                    f"sum by (actor_name) (rate(dramatiq_message_retries_total[{RATE}])) * 60",
                    "retries {{actor_name}}",
                ),
                target(
                    f"sum by (actor_name) (rate(dramatiq_message_rejects_total[{RATE}])) * 60",
                    "rejects {{actor_name}}",
                ),
            ],
        ),
        timeseries(
            "Messages in progress",
            [
                target("sum by (actor_name) (dramatiq_messages_inprogress)", "running {{actor_name}}"),
                target(
                    "sum by (actor_name) (dramatiq_delayed_messages_inprogress)", "delayed {{actor_name}}"
                ),
            ],
        ),
        quantiles(
            "Message duration, by actor", "dramatiq_message_duration_milliseconds", unit="ms", by="actor_name"
        )
        | {"width": 24},
    ]
    return dashboard("wearon-pipeline", "WearOn / Pipeline", panels)


def api() -> dict[str, Any]:
    requests = "wearon_http_requests_total"
    latency = "wearon_http_request_duration_seconds"
    panels = [
        row("Traffic"),
        per_minute("Requests per minute, by route", requests, "route"),
        per_minute("Requests per minute, by status", requests, "status"),
        timeseries(
            "5xx ratio",
            [target("wearon:http_server_error_ratio:rate5m", "5xx")],
            unit="percentunit",
            description="Server errors among answered requests; a 499 (the client hung up) is neither.",
        ),
        timeseries(
            "Requests in flight, by route",
            [target("sum by (route) (wearon_http_requests_in_flight)", "{{route}}")],
        ),
        row("Latency"),
        quantiles("Latency, all routes", latency),
        timeseries(
            "p95 latency, by route",
            [
                target(
                    f"histogram_quantile(0.95, sum by (le, route) (rate({latency}_bucket[{RATE}])))",
                    "{{route}}",
                )
            ],
            unit="s",
        ),
        row("Replicas"),
        timeseries(
            "Health per replica (1 ok, 0 degraded)",
            [target('wearon_api_health_ok{job="api"}', "{{instance}}")],
        ),
        timeseries(
            "Health per replica, by check (1 ok, 0 failing)",
            [target('wearon_api_health_check_ok{job="api"}', "{{instance}} {{check}}")],
            description="model: the pose model is loaded; redis: Redis answers (ApiHealthDegraded names it).",
        ),
        timeseries("Replicas up", [target('up{job="api"}', "{{instance}}")]),
    ]
    return dashboard("wearon-api", "WearOn / API", panels)


# --- alert rules --------------------------------------------------------------------------

_THRESHOLD = re.compile(
    r"^\s*(?P<series>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?P<op>[<>])\s*(?P<value>[-+0-9.eE]+)\s*$"
)


def grafana_rule(alert: dict[str, Any]) -> dict[str, Any]:
    """The Grafana equivalent of one Prometheus alerting rule of the form `series > value`."""
    match = _THRESHOLD.match(alert["expr"])
    if match is None:
        raise ValueError(
            f"{alert['alert']}: expr must be `<recorded series> > or < <number>`: {alert['expr']!r}"
        )
    evaluator = {"type": "gt" if match["op"] == ">" else "lt", "params": [float(match["value"])]}
    return {
        "uid": "wearon-" + alert["alert"].lower(),
        "title": alert["alert"],
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": 600, "to": 0},
                "datasourceUid": PROMETHEUS["uid"],
                "model": {"refId": "A", "expr": match["series"], "instant": True},
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": evaluator}],
                },
            },
        ],
        "for": alert.get("for", "0m"),
        # No series means no incident (no traffic, no failures); a broken Prometheus is an error.
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": dict(alert.get("labels", {})),
        "annotations": dict(alert.get("annotations", {})),
        "isPaused": False,
    }


def alert_rules() -> dict[str, Any]:
    source = yaml.safe_load(PROMETHEUS_ALERTS.read_text())
    alerts = [rule for group in source["groups"] for rule in group["rules"] if "alert" in rule]
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "wearon",
                "folder": "WearOn alerts",
                "interval": "1m",
                "rules": [grafana_rule(alert) for alert in alerts],
            }
        ],
    }


# --- output -------------------------------------------------------------------------------

ALERT_RULES_HEADER = (
    "# Generated by ops/grafana/build_dashboards.py from ops/prometheus/rules/alerts.yml: do not edit.\n"
)


def rendered() -> dict[Path, str]:
    files = {
        DASHBOARDS / f"{name}.json": json.dumps(build(), indent=2) + "\n"
        for name, build in (("overview", overview), ("pipeline", pipeline), ("api", api))
    }
    files[ALERT_RULES] = ALERT_RULES_HEADER + yaml.safe_dump(alert_rules(), sort_keys=False, width=110)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is not up to date")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(OPS.parent)}")
    for path in stale:
        print(
            f"stale: {path.relative_to(OPS.parent)} (run python ops/grafana/build_dashboards.py)",
            file=sys.stderr,
        )
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
