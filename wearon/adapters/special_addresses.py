"""IANA's IPv4 and IPv6 Special-Purpose Address Registries, as data: for each special block, whether
a router may forward a datagram to it, and whether it is globally reachable.

Python's `ipaddress` keeps its own list, which lags the registries (3.11 calls 192.0.0.8, the IPv4
dummy address, global). The rows below are the registries' Address Block, Name, Forwardable and
Globally Reachable columns, cell for cell (`N/A`, and the empty cells of a terminated entry, are
kept as written), as published in 2025 (the IPv6 dummy prefix of RFC 9780 is in):
https://www.iana.org/assignments/iana-ipv4-special-registry and
https://www.iana.org/assignments/iana-ipv6-special-registry. Update them by diffing with those
pages. Blocks nest (192.0.0.0/24 holds 192.0.0.9/32): the most specific block holding an address
decides. Multicast has registries of its own and is not here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Address Block | Name | Forwardable | Globally Reachable
IPV4_REGISTRY = """
0.0.0.0/8          | "This network"                            | False | False
0.0.0.0/32         | "This host on this network"               | False | False
10.0.0.0/8         | Private-Use                               | True  | False
100.64.0.0/10      | Shared Address Space                      | True  | False
127.0.0.0/8        | Loopback                                  | False | False
169.254.0.0/16     | Link Local                                | False | False
172.16.0.0/12      | Private-Use                               | True  | False
192.0.0.0/24       | IETF Protocol Assignments                 | False | False
192.0.0.0/29       | IPv4 Service Continuity Prefix            | True  | False
192.0.0.8/32       | IPv4 dummy address                        | False | False
192.0.0.9/32       | Port Control Protocol Anycast             | True  | True
192.0.0.10/32      | Traversal Using Relays around NAT Anycast | True  | True
192.0.0.170/32     | NAT64/DNS64 Discovery                     | False | False
192.0.0.171/32     | NAT64/DNS64 Discovery                     | False | False
192.0.2.0/24       | Documentation (TEST-NET-1)                | False | False
192.31.196.0/24    | AS112-v4                                  | True  | True
192.52.193.0/24    | AMT                                       | True  | True
192.88.99.0/24     | Deprecated (6to4 Relay Anycast)           |       |
192.88.99.2/32     | 6a44-relay anycast address                | True  | False
192.168.0.0/16     | Private-Use                               | True  | False
192.175.48.0/24    | Direct Delegation AS112 Service           | True  | True
198.18.0.0/15      | Benchmarking                              | True  | False
198.51.100.0/24    | Documentation (TEST-NET-2)                | False | False
203.0.113.0/24     | Documentation (TEST-NET-3)                | False | False
240.0.0.0/4        | Reserved                                  | False | False
255.255.255.255/32 | Limited Broadcast                         | False | False
"""

IPV6_REGISTRY = """
::1/128            | Loopback Address                                   | False | False
::/128             | Unspecified Address                                | False | False
::ffff:0:0/96      | IPv4-mapped Address                                | False | False
64:ff9b::/96       | IPv4-IPv6 Translat.                                | True  | True
64:ff9b:1::/48     | IPv4-IPv6 Translat.                                | True  | False
100::/64           | Discard-Only Address Block                         | True  | False
100:0:0:1::/64     | Dummy IPv6 Prefix                                  | False | False
2001::/23          | IETF Protocol Assignments                          | False | False
2001::/32          | TEREDO                                             | True  | N/A
2001:1::1/128      | Port Control Protocol Anycast                      | True  | True
2001:1::2/128      | Traversal Using Relays around NAT Anycast          | True  | True
2001:1::3/128      | DNS-SD Service Registration Protocol Anycast       | True  | True
2001:2::/48        | Benchmarking                                       | True  | False
2001:3::/32        | AMT                                                | True  | True
2001:4:112::/48    | AS112-v6                                           | True  | True
2001:10::/28       | Deprecated (previously ORCHID)                     |       |
2001:20::/28       | ORCHIDv2                                           | True  | True
2001:30::/28       | Drone Remote ID Protocol Entity Tags (DETs) Prefix | True  | True
2001:db8::/32      | Documentation                                      | False | False
2002::/16          | 6to4                                               | True  | N/A
2620:4f:8000::/48  | Direct Delegation AS112 Service                    | True  | True
3fff::/20          | Documentation                                      | False | False
5f00::/16          | Segment Routing (SRv6) SIDs                        | True  | False
fc00::/7           | Unique-Local                                       | True  | False
fe80::/10          | Link-Local Unicast                                 | False | False
"""


@dataclass(frozen=True)
class SpecialBlock:
    network: IPNetwork
    name: str
    #: As the registry writes it: "True", "False", "N/A", or "" (a terminated entry).
    forwardable: str
    globally_reachable: str

    @property
    def public(self) -> bool:
        """Reachable from anywhere: both columns say True (N/A and an empty cell are no answer)."""
        return self.forwardable == "True" and self.globally_reachable == "True"


def _parse(table: str) -> tuple[SpecialBlock, ...]:
    rows = ([cell.strip() for cell in line.split("|")] for line in table.strip().splitlines())
    return tuple(
        SpecialBlock(ipaddress.ip_network(block), name, forwardable, reachable)
        for block, name, forwardable, reachable in rows
    )


REGISTRY = _parse(IPV4_REGISTRY) + _parse(IPV6_REGISTRY)


def special_block(address: IPAddress) -> SpecialBlock | None:
    """The most specific registry entry holding `address`, if any."""
    holding = [b for b in REGISTRY if b.network.version == address.version and address in b.network]
    return max(holding, key=lambda b: b.network.prefixlen, default=None)
