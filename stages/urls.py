"""URLs: the one module that reads URLs, in the two forms the pipeline needs.

1. **Blocklist form** (:func:`blocklist_url`, :func:`blocklist_host`), used by the safety stage
   for both the URL being checked and every list entry: the host a browser would contact, so
   that no spelling of a blocked host walks around the list. Parsing follows the WHATWG URL
   standard through ``ada_url`` (the Python binding of Ada, the parser in Node.js): backslashes
   count as slashes (``http://bad.com\\@good.com`` goes to ``bad.com``), the host is
   percent-decoded and IDNA-mapped (``bad%2Ecom``, fullwidth letters, ``。`` -> ``bad.com``),
   decimal/hex/octal IPv4 (``3232235777``, ``0xC0.0xA8.1.1``) become dotted quads, tabs and
   newlines vanish, ``..`` path segments resolve. On top of the standard: a scheme-relative or
   schemeless URL (``//bad.com``, ``bad.com/x``) is read as ``http``, an IPv4-mapped IPv6 host
   (``[::ffff:192.168.1.1]``) as its IPv4 address, trailing dots and one leading ``www.`` are
   removed, percent-escapes of unreserved characters in the path are decoded, and path and
   query are lower-cased (squidGuard compares URLs case-insensitively).
2. **Dedup form** (:func:`canonical_url`): the URL part of dedup's exact key when
   ``dedup.exact_include_url`` is on. It keeps the scheme and a non-default port and drops
   tracking parameters: two records are the *same page* only if a reader would land on the
   same resource. It is not a security boundary and never used for blocklists.

Everything here is linear in the URL's length: no list of every path prefix is ever built
(:class:`BlocklistURL` yields the path's segments lazily, and the safety stage hashes the
prefixes incrementally), and a host's parent domains are bounded by the DNS name limit.
"""
from __future__ import annotations

import ipaddress
import itertools
import re
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import ada_url

from stages.textnorm import normalize_for_matching

# --------------------------------------------------------------------------- blocklist form

# Schemes whose URLs the WHATWG parser reads with host rules (and backslash = slash); other
# schemes followed by "//" are re-read as http: a list matches hosts, whatever the protocol.
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# WHATWG: leading/trailing C0 controls and spaces are stripped, tab/LF/CR removed anywhere.
_C0_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
# RFC 3986 unreserved characters: their percent-escapes mean the same as the character.
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# A DNS name has at most 253 characters (RFC 1035 / 2181): a list entry longer than that cannot
# be a real domain, so parent domains beyond it are not looked up (this bounds the work).
MAX_DNS_NAME_CHARS = 253
_ATTRIBUTES = ("hostname", "pathname", "search", "host_type")
_SEGMENT = re.compile(r"[^/]+")
# A bare ASCII domain (most list entries): the WHATWG parser only lower-cases it, unless a label
# is punycode (validated) or the last label is a number (an IPv4 address): those take the parser.
_BARE_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")


@dataclass(frozen=True, slots=True)
class BlocklistURL:
    """A URL in the form blocklists are matched in.

    ``host``: normalised host ('' when the URL has none); ``is_ip``: an IPv4/IPv6 literal
    (matched exactly, no parent domains); ``path``: lower-cased, as parsed (empty segments are
    skipped by :meth:`segments`); ``query``: the query without '?', lower-cased. The path is
    kept as one string and its segments are produced lazily, so memory stays linear in the URL.
    """

    host: str
    is_ip: bool
    path: str
    query: str

    def segments(self) -> Iterator[str]:
        """The non-empty path segments, in order (``//a//b/`` -> a, b)."""
        return (match.group(0) for match in _SEGMENT.finditer(self.path))

    def key(self) -> str:
        """``host/seg/seg?query``: how a URL entry of a list is stored and a URL is looked up."""
        key = "/".join((self.host, *self.segments()))
        return f"{key}?{self.query}" if self.query else key

    def prefix_key(self, count: int) -> str:
        """``host/seg_1/.../seg_count``: the key of one path prefix (for reject details)."""
        return "/".join((self.host, *itertools.islice(self.segments(), count)))


def _decode_unreserved(text: str) -> str:
    if "%" not in text:
        return text

    def one(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0)

    return _ESCAPE.sub(one, text)


def _with_http_scheme(url: str) -> str:
    """The URL as the WHATWG parser should see it for host matching (see module docstring)."""
    match = _SCHEME.match(url)
    if match:
        scheme = match.group(1).lower()
        if scheme in _SPECIAL_SCHEMES:
            return url
        rest = url[match.end():]
        if rest[:2] in ("//", "\\\\", "/\\", "\\/"):
            return "http:" + rest
        # "bad.com:8080/x", "localhost:80": a host and port, not a scheme
    return "http://" + url.lstrip("/\\")


def _ip_or_domain(hostname: str, is_ip: bool) -> tuple[str, bool]:
    """Brackets off IPv6, IPv4-mapped IPv6 -> IPv4, trailing dots and one ``www.`` off domains."""
    if hostname.startswith("["):
        inner = hostname[1:hostname.find("]")] if "]" in hostname else hostname[1:]
        try:
            address = ipaddress.IPv6Address(inner)
        except ValueError:
            return inner.lower(), True
        mapped = address.ipv4_mapped
        return (str(mapped) if mapped is not None else address.compressed), True
    if is_ip:
        return hostname, True
    host = hostname.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host, False


def _lenient_parts(url: str) -> tuple[str, str, str]:
    """(host, path, query) of a string the WHATWG parser refuses (bad port, space in the host):
    the authority is cut by hand, userinfo and port dropped, the host alone parsed again."""
    rest = url
    match = _SCHEME.match(url)
    if match and (match.group(1).lower() in _SPECIAL_SCHEMES
                  or url[match.end():match.end() + 2] in ("//", "\\\\", "/\\", "\\/")):
        rest = url[match.end():]
    rest = rest.lstrip("/\\")
    cut = len(rest)
    for stop in "/?#\\":
        index = rest.find(stop)
        if 0 <= index < cut:
            cut = index
    authority, tail = rest[:cut], rest[cut:]
    host = authority.rsplit("@", 1)[-1]
    if not host.startswith("["):
        host = host.split(":", 1)[0]
    path, _, query = tail.split("#", 1)[0].partition("?")
    return host, path.replace("\\", "/"), query


def _parse_host(host: str) -> tuple[str, bool]:
    """A bare host through the WHATWG host parser, or lower-cased as is when it refuses it."""
    try:
        parsed = ada_url.parse_url("http://" + host + "/", attributes=("hostname", "host_type"))
    except ValueError:
        raw = host.strip().lower()
        if raw.startswith("["):
            return _ip_or_domain(raw, True)
        try:
            return str(ipaddress.ip_address(raw)), True
        except ValueError:
            return _ip_or_domain(raw, False)
    return _ip_or_domain(parsed["hostname"], parsed["host_type"] != ada_url.HostType.DEFAULT)


def _bare_domain(text: str) -> str | None:
    """The WHATWG host of a bare ASCII domain without calling the parser, or None when the
    text needs the parser (tests check both agree). Saves most of a 4.5 M-entry list's build."""
    if not _BARE_DOMAIN.fullmatch(text):
        return None
    host = text.lower()
    if "xn--" in host or _NUMERIC_LABEL.fullmatch(host.rstrip(".").rpartition(".")[2]):
        return None
    return host


def blocklist_url(url: str) -> BlocklistURL:
    """Parse any URL spelling (with or without scheme) into its blocklist form."""
    text = url.strip(_C0_SPACE).translate(_TAB_NEWLINE)
    bare = _bare_domain(text)
    if bare is not None:
        return BlocklistURL(*_ip_or_domain(bare, False), "", "")
    try:
        parsed = ada_url.parse_url(_with_http_scheme(text), attributes=_ATTRIBUTES)
        host, is_ip = _ip_or_domain(parsed["hostname"],
                                    parsed["host_type"] != ada_url.HostType.DEFAULT)
        path, query = parsed["pathname"], parsed["search"][1:]
    except ValueError:
        raw_host, path, query = _lenient_parts(text)
        host, is_ip = _parse_host(raw_host) if raw_host else ("", False)
    return BlocklistURL(host, is_ip, _decode_unreserved(path).lower(), query.lower())


def blocklist_host(entry: str) -> str:
    """The normalised host of a domain list entry (or of any URL): ``WWW.Bad.Org.`` -> ``bad.org``."""
    bare = _bare_domain(entry.strip(_C0_SPACE))
    return _ip_or_domain(bare, False)[0] if bare is not None else blocklist_url(entry).host


def host_suffixes(url: BlocklistURL) -> list[str]:
    """The host and its parent domains, longest first (``a.b.c`` -> a.b.c, b.c, c); an IP
    literal only itself. Parent domains longer than a DNS name can be are skipped, so a
    hostile 100,000-label host costs one key per label it could match, not one per label."""
    host = url.host
    if not host:
        return []
    if url.is_ip:
        return [host]
    parents: list[str] = []
    pos = len(host)
    while (dot := host.rfind(".", 0, pos)) >= 0 and len(host) - dot - 1 <= MAX_DNS_NAME_CHARS:
        if dot + 1 < len(host) and host[dot + 1] != ".":  # no suffix starting at an empty label
            parents.append(host[dot + 1:])
        pos = dot
    return [host, *reversed(parents)]


def url_word_text(url: str) -> str:
    """The URL as the URL word rules read it: percent-escapes decoded once (``%70orn`` ->
    ``porn``), format characters removed and NFKC (fullwidth letters, soft hyphens), lower-cased."""
    return normalize_for_matching(unquote(url, errors="replace")).lower()


# --------------------------------------------------------------------------- dedup form

_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|msclkid|mc_cid|mc_eid)$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """The URL part of dedup's exact key (``dedup.exact_include_url``): scheme and host
    lower-cased, default port, fragment, tracking parameters and a trailing slash dropped,
    remaining query parameters sorted. A string Python's parser refuses (a broken IPv6
    literal) is its own key, stripped, so one odd URL cannot fail the dedup step."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not _TRACKING.match(k))
    path = parts.path.rstrip("/") or "/"
    return f"{scheme}://{netloc}{path}" + (f"?{urlencode(query)}" if query else "")
