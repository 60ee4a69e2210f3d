"""The WAF's pure checks, unit-testable and usable without the middleware: a clean request
path (``path_problem``), JSON nesting (``json_too_deep``), text a JSON app can decode and encode
again (``text_problem``), ``loads_public`` for apps that parse public bodies themselves, and
``parse_network`` for IPs and CIDR blocks. The middleware is ``launch_control.protect.waf``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from launch_control.errors import UsageError

MAX_PATH = 2048
_PLAIN_PATH = re.compile(rb"/[A-Za-z0-9_/~-]{0,2047}")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_TRAVERSAL = re.compile(rb"%(2e|2f|5c)", re.IGNORECASE)
_JSON_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# A JSON escape: ``\\`` and ``\"`` consumed whole, so ``\\ud800`` (a backslash, then text) is no surrogate.
_ESCAPE = re.compile(rb"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def json_too_deep(body: bytes, limit: int) -> bool:
    """True when JSON ``body`` nests arrays/objects deeper than ``limit`` (strings ignored)."""
    brackets = _JSON_STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= 2 * limit:  # a cheap exit: not enough brackets to be that deep
        return False
    depth = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def text_problem(body: bytes, *, require_utf8: bool = True) -> str | None:
    """Why ``body`` is not text a JSON app can decode and encode again, or None.

    Invalid UTF-8 (unless ``require_utf8=False``: the WAF lets binary bodies through, a JSON
    parser refuses them cleanly by itself), or a ``\\uD800``-``\\uDFFF`` escape that is not a
    high-low pair: ``json.loads`` accepts a lone surrogate, and the first ``.encode()`` of it (a
    response echoing it, a call to the model) raises UnicodeEncodeError — a 500 from public input.
    """
    if body.isascii():
        # One-byte search first (memchr): most bodies hold no backslash at all.
        if b"\\" not in body or not _SURROGATE_HINT.search(body):
            return None
    else:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"the body is not UTF-8 (byte {exc.start})" if require_utf8 else None
        if b"\\" not in body or not _SURROGATE_HINT.search(body):
            return None
    pending_high = -1  # end offset of a high surrogate escape still waiting for its low half
    for match in _ESCAPE.finditer(body):
        escape = match.group(1)
        code = int(escape[1:], 16) if len(escape) == 5 and escape[:1] == b"u" else -1
        if pending_high >= 0:
            if 0xDC00 <= code <= 0xDFFF and match.start() == pending_high:
                pending_high = -1
                continue
            return "a JSON string holds a lone surrogate (\\ud800-\\udbff without its low half)"
        if 0xD800 <= code <= 0xDBFF:
            pending_high = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            return "a JSON string holds a lone surrogate (\\udc00-\\udfff without its high half)"
    if pending_high >= 0:
        return "a JSON string holds a lone surrogate (\\ud800-\\udbff without its low half)"
    return None


def loads_public(raw: bytes, max_depth: int = 64) -> Any:
    """``json.loads`` for a public request body: ValueError (a 400 to the caller) for anything the
    parser or a later encoder would choke on — too deep, lone surrogates, invalid UTF-8 — so an
    app is safe even without the WAF in front of it."""
    import json

    if json_too_deep(raw, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    if problem := text_problem(raw):
        raise ValueError(problem)
    try:
        return json.loads(raw)
    except RecursionError:  # belt and braces: json_too_deep should have caught it
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None


def path_problem(path: str, raw_path: bytes | None) -> str | None:
    """The rule a request path breaks (``malformed_path`` / ``path_traversal``), or None."""
    raw = raw_path if raw_path is not None else path.encode("utf-8", "surrogateescape")
    if _PLAIN_PATH.fullmatch(raw) and raw.decode("ascii") == path:  # the common case, one regex
        return None
    if not path.startswith("/") or len(raw) > MAX_PATH or _CONTROL.search(path) or _BAD_ESCAPE.search(raw):
        return "malformed_path"
    if b"\\" in raw or "\\" in path or _ENCODED_TRAVERSAL.search(raw):
        return "path_traversal"
    decoded = unquote_to_bytes(raw)
    for candidate in (path.encode("utf-8", "surrogateescape"), decoded, unquote_to_bytes(decoded)):
        if _CONTROL.search(candidate.decode("latin-1")):
            return "malformed_path"
        if b"\\" in candidate:
            return "path_traversal"
        if any(segment in (b".", b"..") for segment in candidate.split(b"/")):
            return "path_traversal"
    return None


def parse_network(text: str) -> IpNetwork:
    """An IP or CIDR; UsageError naming the value otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address or CIDR block (e.g. 203.0.113.7 or 10.0.0.0/8)") from None
