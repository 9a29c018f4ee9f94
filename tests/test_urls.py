"""stages/urls.py: the blocklist form of a URL (WHATWG parsing) and dedup's canonical URL."""
from __future__ import annotations

import ada_url
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.urls import (BlocklistURL, _bare_domain, blocklist_host, blocklist_url, canonical_url,
                         host_suffixes)


@pytest.mark.parametrize("url,host", [
    ("http://www.Example.COM./a", "example.com"),
    ("https://user:pw@sub.example.com:8443/x?y", "sub.example.com"),
    ("example.com/path", "example.com"),
    ("http://bücher.example/", "xn--bcher-kva.example"),
    ("http://bad.com\\@good.com/", "bad.com"),          # backslash is a slash (WHATWG)
    ("http://good.com\\@bad.com/", "good.com"),
    ("http://bad%2Ecom/", "bad.com"),                   # host is percent-decoded
    ("//bad.com/x", "bad.com"),                         # scheme-relative
    ("\\\\bad.com\\x", "bad.com"),
    ("http://3232235777/", "192.168.1.1"),              # decimal IPv4
    ("http://0xC0.0xA8.1.1/", "192.168.1.1"),           # hex
    ("http://0300.0250.1.1/", "192.168.1.1"),           # octal
    ("http://[::ffff:192.168.1.1]/", "192.168.1.1"),    # IPv4-mapped IPv6
    ("http://[0:0:0:0:0:FFFF:C0A8:0101]/", "192.168.1.1"),
    ("http://[2001:DB8::1]/", "2001:db8::1"),
    ("http://ｂａｄ．ｃｏｍ/", "bad.com"),               # fullwidth (IDNA mapping)
    ("http://bad。com/", "bad.com"),
    (" \thttp://ba\nd.com/ ", "bad.com"),               # tabs/newlines removed
    ("hxxp://Bad.COM/", "bad.com"),                     # any scheme with // reads as http
    ("bad.com:8080/x", "bad.com"),                      # host:port, not a scheme
    ("http://bad.com:99999/", "bad.com"),               # invalid port: lenient fallback
    ("http:bad.com:99999/x", "bad.com"),
    ("hxxp://u@bad.com:99999/", "bad.com"),
    ("//u@bad.com:99999", "bad.com"),
    ("http://[::1", "::1"),
    ("", ""),
    ("http://", ""),
])
def test_blocklist_host(url: str, host: str) -> None:
    assert blocklist_url(url).host == host


def test_ip_literals_are_marked() -> None:
    assert blocklist_url("http://3232235777/").is_ip
    assert blocklist_url("http://[2001:db8::1]/").is_ip
    assert not blocklist_url("http://1.2.3.example/").is_ip


def test_key_and_prefixes() -> None:
    url = blocklist_url("http://WWW.Bad.COM/a/../B//c/%41x/?Q=1#frag")
    assert url == BlocklistURL("bad.com", False, "/b//c/ax/", "q=1")
    assert list(url.segments()) == ["b", "c", "ax"]
    assert url.key() == "bad.com/b/c/ax?q=1"
    assert [url.prefix_key(i) for i in (1, 2, 3)] == ["bad.com/b", "bad.com/b/c", "bad.com/b/c/ax"]
    assert blocklist_url("bad.com").key() == "bad.com"
    # percent-escapes of reserved characters stay escaped (a %2F is not a segment boundary)
    assert blocklist_url("http://a.org/x%2Fy").key() == "a.org/x%2fy"


def test_blocklist_host_of_list_entries() -> None:
    assert blocklist_host("WWW.Bad.Org.") == "bad.org"
    assert blocklist_host("bad.org/some/path") == "bad.org"
    assert blocklist_host("www.") == "www"


def test_host_suffixes() -> None:
    assert host_suffixes(blocklist_url("http://a.b.example.com/")) == [
        "a.b.example.com", "b.example.com", "example.com", "com"]
    assert host_suffixes(blocklist_url("http://a..b.c/")) == ["a..b.c", "b.c", "c"]
    assert host_suffixes(blocklist_url("http://1.2.3.4/")) == ["1.2.3.4"]
    assert host_suffixes(blocklist_url("")) == []


def test_host_suffixes_are_bounded_by_the_dns_name_limit() -> None:
    """A 100,000-label host gives the host plus the parent domains a DNS name can have
    (<= 253 characters), not 100,000 growing strings."""
    host = "a." * 100_000 + "com"
    suffixes = host_suffixes(blocklist_url("http://" + host + "/"))
    assert suffixes[0] == host
    assert len(suffixes) <= 128
    assert max(len(s) for s in suffixes[1:]) <= 253


def test_canonical_url_for_dedup() -> None:
    assert (canonical_url("HTTPS://WWW.Example.com:443/a/b/?utm_source=x&b=2&a=1#frag")
            == "https://www.example.com/a/b?a=1&b=2")
    assert canonical_url("http://h.org:8080") == "http://h.org:8080/"
    # Python's parser refuses a broken IPv6 literal: the stripped string is its own key.
    assert canonical_url(" http://[::1/x ") == "http://[::1/x"


@settings(max_examples=500, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9.-]{1,20}(\.(com|1|0x1f|0X|xn--bcher-kva|XN--a|09))?\.?", fullmatch=True))
def test_bare_domain_shortcut_agrees_with_the_parser(text: str) -> None:
    """The shortcut for plain ASCII domains gives exactly the WHATWG parser's host."""
    fast = _bare_domain(text)
    if fast is None:
        return
    try:
        slow = ada_url.parse_url("http://" + text + "/", attributes=("hostname",))["hostname"]
    except ValueError:
        slow = None
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_string_parses_without_raising(text: str) -> None:
    url = blocklist_url(text)
    assert url.host == url.host.strip()
    assert all(len(s) <= max(len(url.host), 253) for s in host_suffixes(url))
