"""`make demo`: push real-shaped tasks onto the queue of a running `make run` and print their fate.

It plays the Next.js API's part: deducts one credit and opens a queued session per task, then
LPUSHes the task JSON exactly as the API does. Runs against the embedded backend.
"""

from __future__ import annotations

import io
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
from PIL import Image, ImageDraw

from wearon import keys
from wearon.adapters.local_provider import MODERATION_TRIGGER
from wearon.adapters.store.sqlite import SqliteSessionStore
from wearon.bootstrap import build_storage, redis_client
from wearon.domain.task import Channel
from wearon.settings import load_settings

USER, STORE = "demo-user", "demo-store"
START_BALANCE = 5
WAIT_S = 60


def main() -> int:
    settings = load_settings()
    if settings.uses_supabase:
        sys.exit("demo: runs against the embedded backend; unset SUPABASE_URL")
    _require_api(settings.public_base_url)
    store, blobs = build_storage(settings)
    assert isinstance(store, SqliteSessionStore)
    client = redis_client(settings)
    store.set_balance(Channel.B2C, USER, START_BALANCE)
    store.set_balance(Channel.B2B, STORE, START_BALANCE)
    urls = [_upload(blobs, name, img, settings.signed_url_ttl_s) for name, img in _inputs().items()]
    tasks = [
        _task(Channel.B2C, urls, "Dress the person in the red jacket."),
        _task(Channel.B2B, urls, "Show the model wearing the store's red jacket."),
        _task(Channel.B2C, urls, f"A request the safety filter refuses {MODERATION_TRIGGER}"),
    ]
    for task in tasks:
        owner = task["user_id"] or task["store_id"]
        store.open_session(Channel(task["channel"]), task["session_id"], owner, task["prompt"])
        client.lpush(keys.TASKS, json.dumps(task))
    rows = _wait(store, tasks)
    _print(rows, store)
    return 0 if all(r["status"] in ("completed", "failed") for r in rows) else 1


def _require_api(base_url: str) -> None:
    try:
        httpx.get(f"{base_url}/health", timeout=3)
    except httpx.HTTPError:
        sys.exit(f"demo: nothing answers at {base_url}; start `make run` in another terminal first")


def _inputs() -> dict[str, bytes]:
    person = Image.new("RGB", (600, 1200), (235, 235, 235))
    draw = ImageDraw.Draw(person)
    draw.ellipse((250, 60, 350, 180), fill=(200, 160, 130))
    draw.rectangle((220, 190, 380, 700), fill=(60, 90, 160))
    draw.rectangle((240, 700, 360, 1150), fill=(40, 40, 40))
    garment = Image.new("RGB", (800, 800), (250, 250, 250))
    ImageDraw.Draw(garment).polygon([(200, 100), (600, 100), (700, 700), (100, 700)], fill=(200, 30, 40))
    return {"person": _jpeg(person), "garment": _jpeg(garment)}


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG")
    return out.getvalue()


def _upload(blobs: Any, name: str, data: bytes, ttl_s: int) -> str:
    path = f"demo/inputs/{name}.jpg"
    blobs.upload(path, data, "image/jpeg")
    return str(blobs.signed_url(path, ttl_s))


def _task(channel: Channel, urls: list[str], prompt: str) -> dict[str, Any]:
    b2b = channel is Channel.B2B
    return {
        "task_id": str(uuid4()),
        "channel": channel.value,
        "store_id": STORE if b2b else None,
        "user_id": None if b2b else USER,
        "session_id": str(uuid4()),
        "image_urls": urls,
        "prompt": prompt,
        "request_id": f"demo-{uuid4().hex[:8]}",
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(),
    }


def _wait(store: SqliteSessionStore, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        rows = [{**t, **(store.session(Channel(t["channel"]), t["session_id"]) or {})} for t in tasks]
        if all(r.get("status") in ("completed", "failed") for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def _print(rows: list[dict[str, Any]], store: SqliteSessionStore) -> None:
    print(f"\n{'channel':8} {'session':36} {'status':10} result URL / message")
    for r in rows:
        outcome = r.get("result_url") or r.get("error_message") or ""
        print(f"{r['channel']:8} {r['session_id']:36} {r.get('status', '?'):10} {outcome}")
    print(f"\ncredits (started at {START_BALANCE} each, one deducted per task):")
    print(f"  b2c {USER}: {store.balance(Channel.B2C, USER)}")
    print(f"  b2b {STORE}: {store.balance(Channel.B2B, STORE)}")


if __name__ == "__main__":
    raise SystemExit(main())
