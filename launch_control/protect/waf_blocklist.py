"""The WAF's blocklists: the compiled set of blocked networks and orgs the middleware checks,
and the run-time list on the shared status board (``waf.blocklist``) that
``launch-control waf block|unblock`` reads and changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from launch_control.errors import UsageError
from launch_control.protect.waf_checks import IpNetwork, parse_network

BLOCKLIST_KEY = "waf.blocklist"



@dataclass(frozen=True)
class Blocklist:
    networks: tuple[IpNetwork, ...] = ()
    orgs: frozenset[str] = frozenset()

    @classmethod
    def build(cls, ips: Iterable[str], orgs: Iterable[str]) -> Blocklist:
        networks = []
        for ip in ips:
            try:
                networks.append(ipaddress.ip_network(str(ip).strip(), strict=False))
            except ValueError:
                continue  # a bad entry on the board must not disable the other entries
        return cls(tuple(networks), frozenset(str(o) for o in orgs))

    def blocks_ip(self, ip: str | None) -> bool:
        if not ip or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


def read_blocklist(board: Any) -> dict[str, list[str]]:
    """The run-time blocklist on the board: {"ips": [...], "orgs": [...]}."""
    raw = board.get(BLOCKLIST_KEY) if board is not None else None
    raw = raw if isinstance(raw, dict) else {}
    return {"ips": sorted(map(str, raw.get("ips", []))), "orgs": sorted(map(str, raw.get("orgs", [])))}


def change_blocklist(board: Any, kind: str, value: str, *, add: bool) -> dict[str, list[str]]:
    """Add or remove one IP/CIDR (``kind='ip'``) or org (``kind='org'``); returns the new list."""
    current = read_blocklist(board)
    field = {"ip": "ips", "org": "orgs"}.get(kind)
    if field is None:
        raise UsageError(f"unknown blocklist kind {kind!r}; use ip or org")
    if kind == "ip":
        value = str(parse_network(value))
    elif not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        raise UsageError(f"{value!r} is not an org id (letters, digits and _ . : -, up to 64)")
    entries = set(current[field])
    if add:
        entries.add(value)
    else:
        entries.discard(value)
    current[field] = sorted(entries)
    board.set(BLOCKLIST_KEY, current)
    return current


def in_networks(ip: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)
