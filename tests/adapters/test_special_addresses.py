"""Every entry of IANA's special-purpose address registries gets the safe downloader's verdict the
registry gives it: only a block that is both forwardable and globally reachable may be fetched."""

from __future__ import annotations

import ipaddress

import pytest

from wearon.adapters.download import address_allowed
from wearon.adapters.special_addresses import REGISTRY, IPAddress, SpecialBlock, special_block

#: Blocks whose addresses carry an IPv4 address, which is judged too (a public one here).
CARRIES_IPV4 = {"::ffff:0:0/96": "::ffff:8.8.8.8", "64:ff9b::/96": "64:ff9b::8.8.8.8"}


def samples(block: SpecialBlock) -> list[IPAddress]:
    """The first, middle and last addresses of `block` that no more specific entry holds."""
    network = block.network
    candidates = {network[0], network[network.num_addresses // 2], network[-1]}
    return sorted(a for a in candidates if special_block(a) == block)


def test_every_entry_has_an_address_of_its_own() -> None:
    assert all(samples(block) for block in REGISTRY)
    assert len(REGISTRY) == 26 + 25


@pytest.mark.parametrize("block", REGISTRY, ids=lambda b: f"{b.network} {b.name}")
def test_each_entry_gets_the_registry_verdict(block: SpecialBlock) -> None:
    addresses = samples(block)
    if str(block.network) in CARRIES_IPV4:
        addresses = [ipaddress.ip_address(CARRIES_IPV4[str(block.network)])]
        expected = True  # judged as the public IPv4 it carries
    else:
        expected = block.forwardable == "True" and block.globally_reachable == "True"
    for address in addresses:
        assert address_allowed(address, allow_private=False) is expected, address


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("192.0.0.8", False),  # the IPv4 dummy address, which Python 3.11 calls global
        ("192.0.0.9", True),  # inside 192.0.0.0/24, but globally reachable (PCP anycast)
        ("192.0.0.7", False),  # the service continuity prefix
        ("192.88.99.1", False),  # a terminated entry: no verdict is a refusal
        ("2001:1::1", True),  # inside 2001::/23, but globally reachable
        ("2001:1::4", False),
        ("2001::1", False),  # Teredo: globally reachable N/A
        ("2002:808:808::1", False),  # 6to4 of a public address: N/A too
        ("100:0:0:1::1", False),  # the IPv6 dummy prefix
        ("5f00::1", False),  # SRv6 SIDs
        ("3fff::1", False),  # documentation
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata address
    ],
)
def test_addresses_python_and_iana_disagree_on(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=False) is allowed


def test_the_most_specific_entry_decides() -> None:
    assert special_block(ipaddress.ip_address("192.0.0.9")).name == "Port Control Protocol Anycast"  # type: ignore[union-attr]
    assert special_block(ipaddress.ip_address("192.0.0.100")).name == "IETF Protocol Assignments"  # type: ignore[union-attr]
    assert special_block(ipaddress.ip_address("8.8.8.8")) is None
