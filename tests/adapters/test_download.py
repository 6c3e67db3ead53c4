"""The safe downloader against real HTTP(S) servers on loopback, with DNS answers injected."""

from __future__ import annotations

import datetime
import io
import ipaddress
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.helpers.http_server import LocalHTTPServer
from wearon import task_deadline
from wearon.adapters.download import SafeDownloader, address_allowed
from wearon.errors import ImageRejected, TaskDeadlineExceeded

MB = 1024 * 1024
CHUNK = 64 * 1024
SECRET = "s3cr3t-token"
PNG_HEADERS = {"Content-Type": "image/png"}


def png(width: int = 32, height: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


PNG = png()


class FakeDNS:
    """Answers each lookup with the next of `answers` (the last one repeats), and remembers who asked."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


Make = Callable[..., SafeDownloader]


@pytest.fixture
def make() -> Iterator[Make]:
    """Builds downloaders (allowing 127.0.0.1 and images.test → 127.0.0.1) and closes them after."""
    made: list[SafeDownloader] = []

    def build(**overrides: object) -> SafeDownloader:
        options: dict[str, object] = {
            "allowed_hosts": frozenset({"127.0.0.1", "images.test"}),
            "allow_private_networks": True,
            "resolve": FakeDNS(["127.0.0.1"]),
        }
        made.append(SafeDownloader(**(options | overrides)))  # type: ignore[arg-type]
        return made[-1]

    yield build
    for downloader in made:
        downloader.close()


def rejected(downloader: SafeDownloader, url: str) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        downloader.fetch(url)
    # Signed URLs carry tokens in the query: no refusal, nor anything chained to it, may show it.
    assert SECRET not in "".join(traceback.format_exception(caught.value))
    return caught.value


# --- what is fetched ---------------------------------------------------------------------------


def test_an_image_on_an_allowed_host_is_fetched(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    assert make().fetch(http_server.url(f"/a.png?sig={SECRET}")) == PNG
    (seen,) = http_server.requests
    assert seen.target == f"/a.png?sig={SECRET}"  # the query reaches the server untouched
    assert seen.headers["accept-encoding"] == "identity"


def test_the_allow_list_ignores_case_and_a_trailing_dot(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    downloader = make(allowed_hosts=frozenset({"Images.TEST"}))
    assert downloader.fetch(http_server.url("/a.png", host="IMAGES.test.")) == PNG


def test_the_system_resolver_is_used_by_default(http_server: LocalHTTPServer) -> None:
    # localhost may resolve to ::1 first, where nothing listens: the next checked address is tried.
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    downloader = SafeDownloader(allowed_hosts=frozenset({"localhost"}), allow_private_networks=True)
    with downloader:
        assert downloader.fetch(http_server.url("/a.png", host="localhost")) == PNG


def test_an_unreachable_address_falls_back_to_the_next_checked_one(
    make: Make, http_server: LocalHTTPServer
) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    downloader = make(resolve=FakeDNS(["127.0.0.2", "127.0.0.1"]))  # nothing listens on .2
    assert downloader.fetch(http_server.url("/a.png", host="images.test")) == PNG


def test_an_ipv6_literal_is_fetched_with_a_bracketed_host_header(make: Make) -> None:
    try:
        server = LocalHTTPServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        server.route("/a.png", headers=PNG_HEADERS, body=PNG)
        assert make(allowed_hosts=frozenset({"::1"})).fetch(server.url("/a.png")) == PNG
        assert server.requests[0].headers["host"] == f"[::1]:{server.port}"


# --- where it may go -----------------------------------------------------------------------------


def test_hosts_off_the_allow_list_are_refused(make: Make, http_server: LocalHTTPServer) -> None:
    refusal = rejected(make(), f"https://evil.example.com/a.png?sig={SECRET}")
    assert refusal.code == "host_not_allowed"
    assert "evil.example.com" in str(refusal)


def test_an_empty_allow_list_allows_nothing(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    assert rejected(make(allowed_hosts=frozenset()), http_server.url("/a.png")).code == "host_not_allowed"
    assert http_server.connections == 0


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/a.png", "gopher://127.0.0.1/", "//127.0.0.1/a.png"]
)
def test_other_schemes_are_refused(make: Make, url: str) -> None:
    assert rejected(make(), url).code == "unsupported_scheme"


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:pw@127.0.0.1/a.png?sig={SECRET}",
        "http://images.test\\@127.0.0.1/a.png",
        "http://127.0.0.1:99999/a.png",
        "http:///a.png",
    ],
)
def test_credentials_and_malformed_urls_are_refused(make: Make, url: str) -> None:
    assert rejected(make(), url).code == "invalid_url"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.0.5", "::1", "fd12::1"])
def test_private_addresses_need_the_private_networks_switch(
    make: Make, http_server: LocalHTTPServer, address: str
) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    downloader = make(allow_private_networks=False, resolve=FakeDNS([address]))
    refusal = rejected(downloader, http_server.url(f"/a.png?sig={SECRET}", host="images.test"))
    assert refusal.code == "address_not_allowed"
    assert http_server.connections == 0


def test_a_private_literal_address_needs_the_switch_too(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    refusal = rejected(make(allow_private_networks=False), http_server.url("/a.png"))
    assert refusal.code == "address_not_allowed"
    assert http_server.connections == 0


METADATA_AND_LINK_LOCAL = [
    "169.254.169.254",
    "169.254.1.1",
    "fe80::1",
    "fd00:ec2::254",
    "fd00:ec2::254%eth0",
    "100.100.100.200",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
]


@pytest.mark.parametrize("address", METADATA_AND_LINK_LOCAL)
@pytest.mark.parametrize("first", [True, False])
def test_link_local_and_metadata_are_refused_even_with_the_switch(
    make: Make, http_server: LocalHTTPServer, address: str, first: bool
) -> None:
    # Given a name that resolves to a forbidden address and to our own loopback server
    # When it is fetched with private networks allowed
    # Then it is refused before any connection: not to the bad address, not to the good one.
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    answers = [address, "127.0.0.1"] if first else ["127.0.0.1", address]
    downloader = make(allow_private_networks=True, resolve=FakeDNS(answers))
    refusal = rejected(downloader, http_server.url(f"/a.png?sig={SECRET}", host="images.test"))
    assert refusal.code == "address_not_allowed"
    assert http_server.connections == 0


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "[fd00:ec2::254]", "[::ffff:169.254.169.254]", "100.100.100.200"]
)
def test_metadata_literals_are_refused(make: Make, host: str) -> None:
    downloader = make(allowed_hosts=frozenset({host}), allow_private_networks=True)
    assert rejected(downloader, f"http://{host}/latest/meta-data/").code == "address_not_allowed"


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::7f00:1",  # deprecated IPv4-compatible 127.0.0.1
    ],
)
def test_other_special_addresses_are_never_allowed(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=False)


def test_one_bad_answer_among_several_refuses_the_host(make: Make) -> None:
    downloader = make(allow_private_networks=False, resolve=FakeDNS(["93.184.216.34", "10.0.0.1"]))
    assert rejected(downloader, "http://images.test/a.png").code == "address_not_allowed"


def test_the_connection_goes_to_the_checked_address(make: Make, http_server: LocalHTTPServer) -> None:
    # Given a rebinding DNS: the first answer is checked, any later one would point at metadata
    # When the image is fetched
    # Then DNS was asked once, the checked address was used, and the Host header names the host.
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    dns = FakeDNS(["127.0.0.1"], ["169.254.169.254"])
    assert make(resolve=dns).fetch(http_server.url("/a.png", host="images.test")) == PNG
    assert dns.asked == ["images.test"]
    assert http_server.requests[0].headers["host"] == f"images.test:{http_server.port}"


def test_dns_failure_is_a_clear_refusal(make: Make) -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert rejected(make(resolve=fail), "http://images.test/a.png").code == "dns_failed"
    assert rejected(make(resolve=FakeDNS([])), "http://images.test/a.png").code == "dns_failed"


def test_connection_refused_is_a_clear_refusal(make: Make) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free now, and nothing will listen on it
    refusal = rejected(make(), f"http://127.0.0.1:{port}/a.png?sig={SECRET}")
    assert refusal.code == "download_failed"


@pytest.fixture(scope="module")
def refuses_all() -> Iterator[SafeDownloader]:
    """Allows nothing but the unresolvable host `images.test`: every URL must be refused."""
    with SafeDownloader(
        allowed_hosts=frozenset({"images.test"}), allow_private_networks=False, resolve=FakeDNS([])
    ) as downloader:
        yield downloader


@settings(max_examples=300, deadline=None)
@given(url=st.text() | st.from_regex(r"\A(https?|ftp|file)://[^/?#]{0,30}(/[^?#]{0,20})?(\?.{0,10})?\Z"))
def test_any_string_is_refused_with_image_rejected_never_another_error(
    refuses_all: SafeDownloader, url: str
) -> None:
    with pytest.raises(ImageRejected):
        refuses_all.fetch(url)


# --- what the server answers ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_refused_not_followed(make: Make, http_server: LocalHTTPServer, status: int) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    http_server.route("/moved", status=status, headers={"Location": http_server.url("/a.png")})
    assert rejected(make(), http_server.url(f"/moved?sig={SECRET}")).code == "redirect_refused"
    assert http_server.requests_to("/a.png") == []


@pytest.mark.parametrize("status", [404, 500])
def test_error_statuses_are_refused_with_the_status(
    make: Make, http_server: LocalHTTPServer, status: int
) -> None:
    http_server.route("/a.png", status=status, headers=PNG_HEADERS, body=b"nope")
    refusal = rejected(make(), http_server.url(f"/a.png?sig={SECRET}"))
    assert refusal.code == "http_status"
    assert str(refusal) == f"image URL returned HTTP {status}"


@pytest.mark.parametrize("headers", [{"Content-Type": "text/html"}, {}])
def test_a_page_that_is_not_an_image_is_refused(
    make: Make, http_server: LocalHTTPServer, headers: dict[str, str]
) -> None:
    http_server.route("/page", headers=headers, body=b"<html>hello</html>")
    assert rejected(make(), http_server.url("/page")).code == "not_an_image"


def test_a_content_encoded_body_is_refused(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/a.png", headers={**PNG_HEADERS, "Content-Encoding": "gzip"}, body=b"\x1f\x8b")
    assert rejected(make(), http_server.url("/a.png")).code == "unsupported_encoding"


class CountingChunks:
    """`total` bytes in CHUNK pieces, counting how many the server really had to produce."""

    def __init__(self, total: int, pause_s: float = 0.0) -> None:
        self.count, self.total, self.pause_s = 0, total, pause_s
        self.closed = threading.Event()

    def __call__(self) -> Iterator[bytes]:
        try:
            for _ in range(self.total // CHUNK):
                self.count += 1
                yield b"\0" * CHUNK
                time.sleep(self.pause_s)
        finally:
            self.closed.set()

    @property
    def sent(self) -> int:
        assert self.closed.wait(10), "the server is still sending"
        return self.count * CHUNK


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    make: Make, http_server: LocalHTTPServer
) -> None:
    chunks = CountingChunks(50 * MB, pause_s=0.001)
    http_server.route("/big.png", headers={**PNG_HEADERS, "Content-Length": str(50 * MB)}, body=chunks)
    refusal = rejected(make(), http_server.url("/big.png"))
    assert refusal.code == "too_large"
    assert chunks.sent < 2 * MB  # refused on the header, not after reading 10 MB


def test_a_chunked_body_over_the_cap_is_cut_off_early(make: Make, http_server: LocalHTTPServer) -> None:
    chunks = CountingChunks(50 * MB)
    http_server.route("/endless.png", headers=PNG_HEADERS, body=chunks)
    assert rejected(make(), http_server.url("/endless.png")).code == "too_large"
    assert chunks.sent < 25 * MB  # the 10 MB cap, plus what the socket buffers held


def test_a_body_at_the_cap_is_accepted(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/edge.png", headers=PNG_HEADERS, body=CountingChunks(MB))
    assert len(make(max_bytes=MB).fetch(http_server.url("/edge.png"))) == MB


# --- how long it may take ------------------------------------------------------------------------


def drip(pause_s: float, count: int) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        for _ in range(count):
            yield b"\0"
            time.sleep(pause_s)

    return chunks


def timed_refusal(downloader: SafeDownloader, url: str) -> tuple[str, float]:
    started = time.monotonic()
    refusal = rejected(downloader, url)
    return refusal.code, time.monotonic() - started


def test_a_slow_drip_body_hits_the_deadline(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/drip.png", headers=PNG_HEADERS, body=drip(0.1, 100))
    code, took = timed_refusal(make(timeout_s=1.0), http_server.url("/drip.png"))
    assert code == "download_timeout"
    assert took < 2.5


def test_a_server_that_never_answers_hits_the_deadline(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/late.png", headers=PNG_HEADERS, body=PNG, delay_s=5)
    code, took = timed_refusal(make(timeout_s=1.0), http_server.url("/late.png"))
    assert code == "download_timeout"
    assert took < 2.5


RawDrip = Callable[[bytes, bytes], int]


@pytest.fixture
def raw_drip() -> Iterator[RawDrip]:
    """A raw TCP server that sends `head` at once, then `tail` one byte every 0.1 s (each byte well
    inside any per-read timeout, so only an overall deadline can stop it)."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(head: bytes, tail: bytes) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        threading.Thread(target=_drip_once, args=(listener, head, tail, stop), daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def _drip_once(listener: socket.socket, head: bytes, tail: bytes, stop: threading.Event) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(65536)
        try:
            conn.sendall(head)
            for byte in tail:
                if stop.wait(0.1):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return


def test_a_slow_drip_of_headers_hits_the_deadline(make: Make, raw_drip: RawDrip) -> None:
    port = raw_drip(b"", b"HTTP/1.1 200 OK\r\n" + b"X-Filler: 1\r\n" * 1000)
    code, took = timed_refusal(make(timeout_s=1.0), f"http://127.0.0.1:{port}/a.png?sig={SECRET}")
    assert code == "download_timeout"
    assert took < 2.5


def test_a_drip_cut_by_the_deadline_is_not_taken_for_a_whole_image(make: Make, raw_drip: RawDrip) -> None:
    # Given a body with no length, ended by the connection closing: when the deadline shuts the
    # socket, the end of the body looks normal. It must still be a timeout, not a truncated image.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n"
    port = raw_drip(head, b"\0" * 1000)
    code, took = timed_refusal(make(timeout_s=1.0), f"http://127.0.0.1:{port}/a.png")
    assert code == "download_timeout"
    assert took < 2.5


def test_every_download_stops_its_timer(make: Make, http_server: LocalHTTPServer) -> None:
    http_server.route("/a.png", headers=PNG_HEADERS, body=PNG)
    downloader = make()
    for _ in range(20):
        downloader.fetch(http_server.url("/a.png"))
    deadline = time.monotonic() + 5
    while any(isinstance(t, threading.Timer) for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(isinstance(t, threading.Timer) for t in threading.enumerate())


# --- HTTPS: the connection goes to the checked address, TLS still checks the name -----------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for images.test, client context trusting its CA)."""
    ca_pem, cert_pem, key_pem = _certificates("images.test")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=ca_pem.decode())
    return server, client


def _certificates(name: str) -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and a certificate it signed for `name`, as PEM (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("wearon test CA", ca_key, ca_key, x509.BasicConstraints(ca=True, path_length=None))
    leaf = _certificate(name, key, ca_key, x509.SubjectAlternativeName([x509.DNSName(name)]))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


def _certificate(subject: str, key: Any, ca_key: Any, extension: Any) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wearon test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(extension, critical=isinstance(extension, x509.BasicConstraints))
        .sign(ca_key, hashes.SHA256())
    )


def test_https_sends_the_host_name_for_sni_and_the_certificate_check(
    make: Make, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls
    names: list[str | None] = []
    server_context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    with LocalHTTPServer(ssl_context=server_context) as server:
        server.route("/a.png", headers=PNG_HEADERS, body=PNG)
        downloader = make(ssl_context=client_context)
        assert downloader.fetch(server.url("/a.png", host="images.test")) == PNG
        assert names == ["images.test"]
        assert server.requests[0].headers["host"] == f"images.test:{server.port}"


def test_https_refuses_a_certificate_for_another_name(
    make: Make, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls
    with LocalHTTPServer(ssl_context=server_context) as server:
        server.route("/a.png", headers=PNG_HEADERS, body=PNG)
        downloader = make(allowed_hosts=frozenset({"other.test"}), ssl_context=client_context)
        url = server.url(f"/a.png?sig={SECRET}", host="other.test")
        assert rejected(downloader, url).code == "download_failed"
        assert server.requests == []


def test_within_a_task_a_download_ends_at_its_deadline(make: Make, http_server: LocalHTTPServer) -> None:
    # Given a task with 1 s left, and an image that takes longer than that (but not the download's 30 s)
    http_server.route("/late-for-the-task.png", headers=PNG_HEADERS, body=PNG, delay_s=5)
    started = time.monotonic()
    with task_deadline.running(1.0), pytest.raises(TaskDeadlineExceeded):
        make(timeout_s=30.0).fetch(http_server.url("/late-for-the-task.png"))
    # Then the task's deadline ends it (not "the image could not be used"), on time
    assert time.monotonic() - started < 2.5
