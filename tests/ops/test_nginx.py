"""ops/nginx/ behaves as issue 7 says, on Debian's nginx with the production config.

The config is copied with container paths moved into a temporary directory, the listen ports
moved to free loopback ports, the upstreams pointed at two stand-in API replicas and a stand-in
Grafana, and a throwaway self-signed certificate. `make check-ops` installs nginx.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.skip_policy import NGINX_MISSING

NGINX_DIR = Path(__file__).resolve().parents[2] / "ops" / "nginx"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason=NGINX_MISSING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream(ThreadingHTTPServer):
    """Answers every request with JSON naming itself, the path and the request headers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Upstream

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.hits.append(self.path)
        body = json.dumps({"status": "ok", "upstream": self.server.name, "headers": dict(self.headers)})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Site:
    http: str
    https: str
    api: list[Upstream]
    grafana: Upstream
    webroot: Path


def render(tmp: Path, ports: dict[str, int], upstreams: dict[str, int]) -> Path:
    """A copy of ops/nginx runnable here: paths under tmp, loopback ports, a self-signed cert."""
    etc = tmp / "etc"
    shutil.copytree(NGINX_DIR / "snippets", etc / "snippets")
    shutil.copytree(NGINX_DIR / "conf.d", etc / "conf.d")
    shutil.copy(NGINX_DIR / "nginx.conf", etc)
    shutil.copy("/etc/nginx/mime.types", etc)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
    files = ["-keyout", str(tmp / "privkey.pem"), "-out", str(tmp / "fullchain.pem")]
    subprocess.run(
        ["openssl", "req", "-x509", *key, "-subj", "/CN=wearon.test", *files], check=True, capture_output=True
    )
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi")
    )
    for conf in etc.rglob("*.conf"):
        text = conf.read_text()
        text = text.replace("/etc/nginx/", f"{etc}/").replace("/etc/letsencrypt/live/wearon/", f"{tmp}/")
        text = text.replace("/var/www/certbot", str(tmp / "www"))
        text = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", text)
        text = text.replace("listen 80 ", f"listen 127.0.0.1:{ports['http']} ")
        text = text.replace("listen 443 ", f"listen 127.0.0.1:{ports['https']} ")
        text = text.replace("listen 127.0.0.1:8081", f"listen 127.0.0.1:{ports['health']}")
        for name, port in upstreams.items():
            text = re.sub(rf"server {name}:\d+", f"server 127.0.0.1:{port}", text)
        text = text.replace(
            "http {\n", "http {\n" + temp_paths + "    uwsgi_temp_path /tmp; scgi_temp_path /tmp;\n"
        )
        conf.write_text(text)
    return etc / "nginx.conf"


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    servers = {name: Upstream(name) for name in ("api-1", "api-2", "grafana")}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    ports = {"http": free_port(), "https": free_port(), "health": free_port()}
    conf = render(tmp_path, ports, {name: s.server_address[1] for name, s in servers.items()})
    (tmp_path / "www" / ".well-known" / "acme-challenge").mkdir(parents=True)
    # As root, workers would run as nobody, who cannot enter pytest's private temporary directory.
    main = f"daemon off; pid {tmp_path}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else "")
    errors = (tmp_path / "error.log").open("wb")
    nginx = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf), "-g", main],
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    try:
        wait_for(ports["https"])
        yield Site(
            f"http://127.0.0.1:{ports['http']}",
            f"https://127.0.0.1:{ports['https']}",
            [servers["api-1"], servers["api-2"]],
            servers["grafana"],
            tmp_path / "www",
        )
    finally:
        nginx.terminate()
        nginx.wait(10)
        errors.close()
        for server in servers.values():
            server.shutdown()
            server.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with httpx.Client(verify=context, timeout=10) as c:
        yield c


def test_http_redirects_to_https_except_acme_challenges(site: Site, client: httpx.Client) -> None:
    response = client.get(f"{site.http}/health?x=1")
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://") and response.headers["location"].endswith(
        "/health?x=1"
    )
    (site.webroot / ".well-known" / "acme-challenge" / "token123").write_text("proof")
    challenge = client.get(f"{site.http}/.well-known/acme-challenge/token123")
    assert (challenge.status_code, challenge.text) == (200, "proof")


def test_health_reaches_an_api_replica_with_security_headers(site: Site, client: httpx.Client) -> None:
    response = client.get(f"{site.https}/health")
    assert response.status_code == 200
    assert response.json()["upstream"] in {"api-1", "api-2"}
    forwarded = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert forwarded["x-forwarded-proto"] == "https"
    assert re.fullmatch(r"[0-9a-f]{32}", forwarded["x-request-id"])
    assert response.headers["strict-transport-security"].startswith("max-age=63072000")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers or "nginx/" not in response.headers["server"]


@pytest.mark.parametrize("path", ["/metrics", "/", "/estimate-body/../metrics", "/health/x", "/docs"])
def test_everything_else_is_404_and_never_proxied(site: Site, client: httpx.Client, path: str) -> None:
    assert client.get(f"{site.https}{path}").status_code == 404
    assert not any(s.hits for s in site.api)


def test_grafana_is_served_under_its_sub_path(site: Site, client: httpx.Client) -> None:
    response = client.get(f"{site.https}/grafana/login")
    assert response.status_code == 200 and response.json()["upstream"] == "grafana"
    assert site.grafana.hits == ["/grafana/login"]


def test_estimate_body_takes_a_small_json_body_only(site: Site, client: httpx.Client) -> None:
    assert client.post(f"{site.https}/estimate-body", content=b"x" * 30_000).status_code == 200
    assert client.post(f"{site.https}/estimate-body", content=b"x" * 40_000).status_code == 413
    assert client.post(f"{site.https}/grafana/api/dashboards/db", content=b"x" * 1_000_000).status_code == 200
    assert client.get(f"{site.https}/estimate-body").status_code == 403
    assert client.post(f"{site.https}/health").status_code == 403


def test_estimate_body_is_rate_limited_per_client(site: Site, client: httpx.Client) -> None:
    codes = [client.post(f"{site.https}/estimate-body", content=b"{}").status_code for _ in range(25)]
    assert codes.count(200) >= 10 and codes.count(429) >= 5


def test_a_replica_that_is_down_is_skipped(site: Site, client: httpx.Client) -> None:
    # Given api-1 stopped (as while deploy.sh replaces it)
    site.api[0].shutdown()
    site.api[0].server_close()
    # When requests keep coming, then every one is answered by api-2
    answers = [client.get(f"{site.https}/health") for _ in range(10)]
    assert [r.status_code for r in answers] == [200] * 10
    assert {r.json()["upstream"] for r in answers} == {"api-2"}
