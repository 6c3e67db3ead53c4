"""A rolling replacement of the API behind the production Nginx config loses no request.

Two real `uvicorn wearon.http:app` processes are the upstreams of Debian's nginx (the config of
ops/nginx, rendered for loopback by test_nginx.render); while a client keeps calling /health
through Nginx, each replica in turn is stopped (SIGTERM: uvicorn finishes what it has in hand)
and started again, and Nginx reloaded, as ops/scripts/deploy.sh does with api-1 then api-2.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_REDIS_URL
from tests.helpers.asgi import free_port
from tests.helpers.processes import die_with_parent, wait_until
from tests.ops.test_nginx import NGINX, render, wait_for
from tests.skip_policy import NGINX_MISSING

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason=NGINX_MISSING)


def start_api(port: int, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": TEST_REDIS_URL,
        "LOCAL_DATA_DIR": str(tmp / "data"),
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp / f"{name}.log").open("ab")
    argv = [sys.executable, "-m", "uvicorn", "wearon.http:app", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    wait_until(lambda: _healthy(port), 60, interval=0.2, what=f"{name} healthy")
    return proc


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def get_health(client: httpx.Client, port: int) -> int:
    """One GET, retried once only when a kept-alive connection was closed under it (an Nginx
    reload closes idle ones): the request never reached a server, and every HTTP client retries
    an idempotent request then (RFC 9110, 9.2.2). Anything else counts as lost (0)."""
    for attempt in range(2):
        try:
            return client.get(f"https://127.0.0.1:{port}/health").status_code
        except (httpx.RemoteProtocolError, httpx.ReadError):
            if attempt:
                return 0
        except httpx.HTTPError:
            return 0
    return 0


def test_replacing_each_replica_in_turn_loses_no_request(tmp_path: Path) -> None:
    api_ports = [free_port(), free_port()]
    apis = [start_api(port, tmp_path, f"api-{n + 1}") for n, port in enumerate(api_ports)]
    ports = {"http": free_port(), "https": free_port(), "health": free_port()}
    conf = render(tmp_path, ports, {"api-1": api_ports[0], "api-2": api_ports[1], "grafana": free_port()})
    main = f"daemon off; pid {tmp_path}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else "")
    nginx = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf), "-g", main],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "nginx.log").open("wb"),
        preexec_fn=die_with_parent,
    )
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with httpx.Client(verify=context, timeout=10) as client:
            while not stop.is_set():
                statuses.append(get_health(client, ports["https"]))

    try:
        wait_for(ports["https"])
        clients = [threading.Thread(target=load) for _ in range(4)]
        for t in clients:
            t.start()
        time.sleep(1)
        # When each replica is replaced in turn, as deploy.sh does, under load
        for n, port in enumerate(api_ports):
            apis[n].send_signal(signal.SIGTERM)
            # uvicorn drains, then re-raises the signal it caught: -SIGTERM is a graceful exit
            assert apis[n].wait(30) in (0, -signal.SIGTERM)
            time.sleep(1)  # the old one is gone for a while: Nginx must route around it
            apis[n] = start_api(port, tmp_path, f"api-{n + 1}-new")
            # deploy.sh reloads Nginx once the new replica is healthy: that forgets the failures
            # it counted against the old one (max_fails), so both replicas serve again
            nginx.send_signal(signal.SIGHUP)
            time.sleep(1)
        stop.set()
        for t in clients:
            t.join(15)
    finally:
        stop.set()
        nginx.terminate()
        nginx.wait(10)
        for api in apis:
            api.terminate()
            api.wait(30)
    # Then every request was answered, and answered ok
    assert len(statuses) > 100
    assert {code for code in statuses} == {200}, {code: statuses.count(code) for code in set(statuses)}
