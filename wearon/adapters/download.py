"""The one safe way to fetch an untrusted image URL (the pipeline's inputs, the size API's photo).

Guards, in order: http(s) only, no credentials in the URL; host on the allow-list; every address
the host resolves to is public (IANA's special-purpose registries decide for the blocks they list,
`wearon.adapters.special_addresses`), or, with `allow_private_networks`, private or loopback
(link-local and cloud-metadata addresses never); the request goes to an address that was checked,
never to the name again, so a second DNS answer cannot redirect it (DNS rebinding); no
redirects; 2xx only; `image/*` only, not content-encoded; a size cap counted while streaming;
one wall-clock deadline over the whole download. Every refusal is ImageRejected with a stable
`code`; messages name the host at most, because full URLs may carry signed tokens.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx

from wearon import task_deadline
from wearon.adapters.special_addresses import special_block
from wearon.errors import ImageRejected, TaskDeadlineExceeded

Resolve = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Cloud metadata endpoints (AWS/GCP/Azure, AWS over IPv6, Alibaba): refused whatever the settings.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
#: The translation prefix whose addresses end with the IPv4 address they are sent on to (RFC 6052).
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
#: What `allow_private_networks` opens (RFC 1918, loopback, IPv6 unique-local), and nothing more.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7")
)


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_allowed(address: IPAddress, *, allow_private: bool) -> bool:
    """Whether we may connect to `address`; a mapped or 6to4 IPv6 address is judged by its IPv4 too."""
    return all(_plain_address_allowed(a, allow_private) for a in _meanings(address))


def _meanings(address: IPAddress) -> list[IPAddress]:
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    address = ipaddress.IPv6Address(int(address))  # drop any %zone, which would defeat set lookups
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in NAT64_WELL_KNOWN:  # a translator sends it on to the IPv4 address it ends with
        return [address, ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return [address] if address.sixtofour is None else [address, address.sixtofour]


def _plain_address_allowed(address: IPAddress, allow_private: bool) -> bool:
    if address in METADATA_ADDRESSES:
        return False
    if allow_private and any(address in network for network in PRIVATE_NETWORKS):
        return True
    block = special_block(address)
    if block is not None:  # IANA's verdict, not Python's (which calls 192.0.0.8 global)
        return block.public
    special = address.is_multicast or address.is_reserved or address.is_link_local or address.is_unspecified
    return address.is_global and not special


@dataclass(frozen=True)
class _Target:
    """A URL split the way it is requested: sent to a checked address, naming the host in `Host`."""

    scheme: str
    #: Lower case, IDNA-encoded; an IPv6 literal has no brackets.
    host: str
    port: int
    #: Path and query, as given.
    raw_path: bytes

    def url_at(self, address: IPAddress) -> httpx.URL:
        return httpx.URL(scheme=self.scheme, host=str(address), port=self.port, raw_path=self.raw_path)

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


def _parse(url: str) -> _Target:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ImageRejected("invalid_url", "the image URL is not a valid URL") from None
    if parsed.scheme not in DEFAULT_PORTS:
        raise ImageRejected("unsupported_scheme", "image URLs must be http or https")
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    if not host or parsed.userinfo or not 0 < port < 65536:
        raise ImageRejected("invalid_url", "the image URL has no host, a bad port, or carries credentials")
    return _Target(parsed.scheme, host, port, parsed.raw_path)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_status(status: int, host: str) -> None:
    if 300 <= status < 400:
        raise ImageRejected("redirect_refused", f"{host} answered with a redirect, which is not followed")
    if not 200 <= status < 300:
        raise ImageRejected("http_status", f"image URL returned HTTP {status}")


def _timed_out(host: str) -> ImageRejected:
    return ImageRejected("download_timeout", f"{host} did not send the image within the time limit")


class SafeDownloader:
    """The ImageFetcher for untrusted URLs; one per process, safe to share between threads."""

    def __init__(
        self,
        *,
        allowed_hosts: frozenset[str],
        allow_private_networks: bool,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        resolve: Resolve = system_resolve,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context` replaces the default trust store (certifi's); tests use it for a local CA."""
        self._allowed = frozenset(h.lower().rstrip(".").strip("[]") for h in allowed_hosts)
        self._allow_private = allow_private_networks
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._resolve = resolve
        self._client = httpx.Client(
            follow_redirects=False,
            # No proxies from the environment: the request must go to the address we checked.
            trust_env=False,
            verify=ssl_context if ssl_context is not None else True,
            # A fresh connection per download, so the deadline always holds its socket, and a
            # connection opened (and certificate-checked) for one host name is never reused for
            # another name that happens to share its address.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SafeDownloader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def fetch(self, url: str) -> bytes:
        target = self._target(url)
        task_deadline.check(f"a download from {target.host}")
        seconds = task_deadline.cut(self._timeout_s)
        try:
            with _Deadline(seconds) as deadline:
                addresses = self._checked_addresses(target)
                return self._download(target, addresses, deadline)
        except ImageRejected as exc:
            # Cut short by the task's deadline: not the image's fault, and not "could not be used".
            if exc.code == "download_timeout" and seconds < self._timeout_s:
                raise TaskDeadlineExceeded(f"deadline passed downloading from {target.host}") from None
            raise

    def _target(self, url: str) -> _Target:
        target = _parse(url)
        if target.host not in self._allowed:
            raise ImageRejected("host_not_allowed", f"images may not be downloaded from {target.host}")
        return target

    def _checked_addresses(self, target: _Target) -> list[IPAddress]:
        addresses = self._addresses(target)
        if not all(address_allowed(a, allow_private=self._allow_private) for a in addresses):
            raise ImageRejected("address_not_allowed", f"{target.host} resolves to a forbidden address")
        return addresses

    def _addresses(self, target: _Target) -> list[IPAddress]:
        literal = _ip_literal(target.host)
        if literal is not None:
            return [literal]
        try:
            addresses = [ipaddress.ip_address(a) for a in self._resolve(target.host, target.port)]
        except (OSError, ValueError):  # gaierror is an OSError, a bad IDNA label a ValueError
            raise ImageRejected("dns_failed", f"could not resolve {target.host}") from None
        if not addresses:
            raise ImageRejected("dns_failed", f"could not resolve {target.host}")
        return addresses

    def _download(self, target: _Target, addresses: list[IPAddress], deadline: _Deadline) -> bytes:
        try:
            body = self._first_reachable(target, addresses, deadline)
        except httpx.HTTPError as exc:
            # `from None`: httpx's errors may quote the URL, and with it a signed token.
            if deadline.fired or isinstance(exc, httpx.TimeoutException):
                raise _timed_out(target.host) from None
            reason = f"could not download the image from {target.host} ({type(exc).__name__})"
            raise ImageRejected("download_failed", reason) from None
        if deadline.fired:  # the socket was shut down under a body that had no declared length
            raise _timed_out(target.host)
        return body

    def _first_reachable(self, target: _Target, addresses: list[IPAddress], deadline: _Deadline) -> bytes:
        for address in addresses[:-1]:
            with suppress(httpx.ConnectError):  # all of them were checked: try the next one
                return self._get(target, address, deadline)
        return self._get(target, addresses[-1], deadline)

    def _get(self, target: _Target, address: IPAddress, deadline: _Deadline) -> bytes:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _timed_out(target.host)
        extensions: dict[str, Any] = {"trace": deadline.trace}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host  # TLS name and certificate check use the host
        headers = {"Host": target.host_header, "Accept": "image/*", "Accept-Encoding": "identity"}
        request = self._client.stream(
            "GET", target.url_at(address), headers=headers, timeout=remaining, extensions=extensions
        )
        with request as response:
            self._check_response(response, target.host)
            return self._read_capped(response)

    def _check_response(self, response: httpx.Response, host: str) -> None:
        _check_status(response.status_code, host)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            sent = content_type or "no content type"
            raise ImageRejected("not_an_image", f"{host} sent {sent}, not an image")
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            # Decoding would let a small compressed body expand far past the cap before we count it.
            raise ImageRejected("unsupported_encoding", f"{host} sent a content-encoded image")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise ImageRejected("too_large", f"image is {declared} bytes; the limit is {self._max_bytes}")

    def _read_capped(self, response: httpx.Response) -> bytes:
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > self._max_bytes:
                raise ImageRejected("too_large", f"image is over the {self._max_bytes}-byte limit")
        return bytes(body)


class _Deadline:
    """One wall-clock limit over a whole download, enforced by shutting its socket down.

    httpx's timeouts bound each socket operation, not their sum: a server that sends a byte
    every few seconds, in the headers or the body, never trips them. When the timer fires it
    shuts the connection's socket down, which wakes the blocked read whatever phase it is in.
    """

    def __init__(self, seconds: float) -> None:
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._finished = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._finished = True
            self._timer.cancel()
            self._release()

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: keep a handle on each new connection's socket."""
        if event != "connection.connect_tcp.complete":
            return
        # Our own descriptor for the same socket: ours to shut down and close whatever httpcore
        # does with its own (TLS wraps it in place, and its close must not race our shutdown).
        sock = info["return_value"].get_extra_info("socket").dup()
        with self._lock:
            self._release()
            self._socket = sock
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._socket is not None:
            with suppress(OSError):  # the peer may have closed it already
                self._socket.shutdown(socket.SHUT_RDWR)

    def _release(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
