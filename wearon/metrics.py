"""wearon's own Prometheus metrics, all prefixed `wearon_` (documented in the README).

Worker processes run with PROMETHEUS_MULTIPROC_DIR set (see scripts/worker), so these
objects write to the shared multiprocess directory that Dramatiq's exposition server reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from wearon.domain.failure import FailureReason
from wearon.domain.task import Channel

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300)

GENERATIONS = Counter(
    "wearon_generations_total",
    "Generations that reached a terminal state, by channel, outcome and failure reason.",
    ["channel", "outcome", "reason"],
)
GENERATION_SECONDS = Histogram(
    "wearon_generation_duration_seconds",
    "From the task's created_at to completion.",
    ["channel"],
    buckets=_LATENCY_BUCKETS,
)
CREDITS_REFUNDED = Counter("wearon_credits_refunded_total", "Credits refunded, by channel.", ["channel"])
PROVIDER_REQUESTS = Counter(
    "wearon_provider_requests_total", "Image provider HTTP calls, by outcome status.", ["status"]
)
PROVIDER_SECONDS = Histogram(
    "wearon_provider_request_duration_seconds", "Image provider call latency.", buckets=_LATENCY_BUCKETS
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "wearon_rate_limiter_wait_seconds",
    "Time a task waited on our own provider rate limiter.",
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300),
)
RATE_SLOT_TO_SEND_SECONDS = Histogram(
    "wearon_rate_slot_to_send_seconds",
    "From taking a provider rate slot to the request's head going out (bounded by half of "
    "OPENAI_RATE_MARGIN_MS: an older slot is given up for a new one).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5),
)
RATE_SLOTS_RETAKEN = Counter(
    "wearon_rate_slots_retaken_total",
    "Provider rate slots given up because the request was not sent within half the margin, and taken again.",
)
KEPT_RESULTS = Counter(
    "wearon_kept_results_total",
    "Generated images kept until stored, by event: kept, reused (a later attempt stored it instead "
    "of calling the provider again), too_large, keep_failed.",
    ["event"],
)
CLAIM_LEASE_RENEWALS = Counter(
    "wearon_claim_lease_renewals_total",
    "Claim leases a worker renewed for its running attempts, by outcome: renewed, failed (the "
    "database refused or was away), lost (run out and taken over by a copy of the message).",
    ["outcome"],
)
STORAGE_UPLOAD_RETRIES = Counter(
    "wearon_storage_upload_retries_total", "Result uploads retried in place after a storage failure."
)
BRIDGE_MOVED = Counter("wearon_bridge_tasks_moved_total", "Tasks the bridge handed to Dramatiq.")
BRIDGE_INVALID = Counter(
    "wearon_bridge_tasks_invalid_total", "Payloads the bridge dead-lettered, by reason.", ["reason"]
)
BRIDGE_LAG_SECONDS = Histogram(
    "wearon_bridge_lag_seconds",
    "now - created_at when the bridge takes a task.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
QUEUE_DEPTH = Gauge("wearon_queue_depth", "Length of each queue we own or feed.", ["queue"])
STUCK_SWEPT = Counter("wearon_stuck_sessions_swept_total", "Stuck sessions failed and refunded by the sweep.")
STUCK_SKIPPED = Counter(
    "wearon_stuck_sessions_skipped_total",
    "Stuck sessions the sweep left open because their refund was refused (retried every minute).",
)
MISCONFIGURATIONS = Counter(
    "wearon_misconfiguration_errors_total",
    "Calls our database or storage refused as misconfigured (no retry changes them), by call and code.",
    ["call", "code"],
)
REFUNDS_DEFERRED = Counter(
    "wearon_refunds_deferred_total",
    "Refunds the store refused when the generation failed, handed to the deferred-refund actor, "
    "by the failure reason of the refusal (infrastructure, misconfigured).",
    ["reason"],
)
DEFERRED_REFUNDS_GIVEN_UP = Counter(
    "wearon_deferred_refunds_given_up_total",
    "Deferred refunds given up (owed longer than the stuck-session threshold): the sweep or an "
    "operator must refund them; by the failure reason of the last refusal.",
    ["reason"],
)
DEFERRED_REFUND_OLDEST_SECONDS = Gauge(
    "wearon_deferred_refund_oldest_seconds",
    "How long the longest-owed deferred refund has been owed (0: none), from its message's timestamp; "
    "set by the bridge's queue-depth reporter.",
)
DEAD_LETTER_OLDEST_AGE = Gauge(
    "wearon_dead_letter_oldest_age_seconds",
    "Age of the oldest dead letter (0 when there is none), by store: bridge (the bridge's list) or "
    "dramatiq:<queue>; dead letters are kept DEAD_LETTER_RETENTION_DAYS.",
    ["store"],
)
HTTP_REQUESTS = Counter(
    "wearon_http_requests_total", "API requests, by route, method and status.", ["route", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "wearon_http_request_duration_seconds",
    "API request latency, by route and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HTTP_IN_FLIGHT = Gauge(
    "wearon_http_requests_in_flight",
    "API requests in progress, by route.",
    ["route"],
    multiprocess_mode="livesum",
)
API_HEALTH_OK = Gauge(
    "wearon_api_health_ok",
    "1 while /health answers ok (model loaded, Redis up), 0 while degraded.",
    multiprocess_mode="liveall",
)
API_HEALTH_CHECK_OK = Gauge(
    "wearon_api_health_check_ok",
    "Each part of /health, by check (model: the pose model is loaded; redis: Redis answers): 1 ok, "
    "0 failing; so that ApiHealthDegraded can name the part that fails.",
    ["check"],
    multiprocess_mode="liveall",
)


def record_outcome(
    channel: Channel, failed: FailureReason | None = None, *, created_at: datetime | None = None
) -> None:
    """The one place a worker counts a generation's end: completed (aged from `created_at`, the
    LPUSH), or failed for a reason, its credit refunded; called once per session, by whoever
    refunded. (The stuck-session sweep counts its own, STUCK_SWEPT; the bridge's invalid payloads
    are BRIDGE_INVALID.)"""
    if failed is not None:
        GENERATIONS.labels(channel=channel.value, outcome="failed", reason=failed.value).inc()
        CREDITS_REFUNDED.labels(channel=channel.value).inc()
        return
    GENERATIONS.labels(channel=channel.value, outcome="completed", reason="").inc()
    if created_at is not None:
        age_s = (datetime.now(UTC) - created_at).total_seconds()
        GENERATION_SECONDS.labels(channel=channel.value).observe(max(age_s, 0.0))
