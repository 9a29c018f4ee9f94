"""safety stage: blocklist formats, host/URL matching, word scoring, cache, Beam shell."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from stages import blocklists as bl
from stages import safety
from stages.record import Doc, Drop
from tests.conftest import shared_path


def _rules(tmp_path: Path, lists: list[dict], **text) -> safety.SafetyRules:
    cfg = safety.Config(domain_lists=[safety.DomainListConfig(**d) for d in lists],
                        cache_dir=str(tmp_path / "cache"),
                        text_words=safety.TextWordsConfig(**text))
    return safety.SafetyRules(cfg)


def _lines_list(tmp_path: Path, body: str, name: str = "list.txt") -> str:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(body.encode()))
    else:
        path.write_text(body, encoding="utf-8")
    return str(path)


def _ut1(tmp_path: Path, files: dict[str, str]) -> str:
    path = tmp_path / "ut1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


# ----------------------------------------------------------------- normalisation and matching

@pytest.mark.parametrize("url,host", [
    ("http://www.Example.COM./a", "example.com"),
    ("https://user:pw@sub.example.com:8443/x?y", "sub.example.com"),
    ("example.com/path", "example.com"),
    ("http://bücher.example/", "xn--bcher-kva.example"),
])
def test_normalize_host(url: str, host: str) -> None:
    assert bl.split_normalized(url)[0] == host


def test_parent_domain_matching(tmp_path: Path) -> None:
    rules = _rules(tmp_path, [{"path": _lines_list(tmp_path, "# comment\n\nexample.com\nWWW.Bad.Org\n")}])
    for url in ["http://example.com/", "https://a.b.example.com/x", "http://WWW.EXAMPLE.COM:80/",
                "http://u@x.example.com./", "http://bad.org/", "http://deep.bad.org/"]:
        drop = rules.check_url(url)
        assert drop is not None and drop.reason == "blocked_domain", url
    for url in ["http://notexample.com/", "http://example.com.evil.net/", "http://example.co/",
                "http://org/", "http://bad.org.uk/"]:
        assert rules.check_url(url) is None, url


def test_idn_both_ways(tmp_path: Path) -> None:
    rules = _rules(tmp_path, [{"path": _lines_list(tmp_path, "bücher.example\nxn--fiqs8s.example\n")}])
    assert rules.check_url("http://xn--bcher-kva.example/").reason == "blocked_domain"
    assert rules.check_url("http://shop.bücher.example/").reason == "blocked_domain"
    assert rules.check_url("http://中国.example/").reason == "blocked_domain"
    assert rules.check_url("http://bucher.example/") is None


def test_ip_hosts_match_exactly(tmp_path: Path) -> None:
    rules = _rules(tmp_path, [{"path": _lines_list(tmp_path, "70.11.190\n1.2.3.4\n")}])
    assert rules.check_url("http://1.2.3.4/x").reason == "blocked_domain"
    assert rules.check_url("http://1.70.11.190/") is None


def test_url_entries_and_path_prefixes(tmp_path: Path) -> None:
    rules = _rules(tmp_path, [{"path": _lines_list(tmp_path, "site.org/bad/\nhttp://Other.org/a/b\n", "u.txt.gz")}])
    assert rules.check_url("https://www.site.org/bad").reason == "blocked_url"
    assert rules.check_url("https://site.org/bad/page.html?q=1").reason == "blocked_url"
    assert rules.check_url("https://other.org/A/B/c").reason == "blocked_url"
    assert rules.check_url("https://site.org/badge") is None
    assert rules.check_url("https://site.org/") is None
    assert rules.check_url("https://other.org/a") is None


def test_ut1_tar_and_category_selection(tmp_path: Path) -> None:
    path = _ut1(tmp_path, {"blacklists/adult/domains": "adult.com\n",
                           "blacklists/adult/urls": "mixed.org/adult\n",
                           "blacklists/phishing/domains": "phish.net\n",
                           "blacklists/adult/usage": "black\n"})
    assert bl.ut1_categories(Path(path)) == ["adult", "phishing"]
    adult = _rules(tmp_path, [{"path": path, "format": "ut1", "categories": ["adult"]}])
    assert adult.check_url("http://x.adult.com/").reason == "blocked_domain"
    assert adult.check_url("http://mixed.org/adult/1").reason == "blocked_url"
    assert adult.check_url("http://phish.net/") is None
    everything = _rules(tmp_path, [{"path": path, "format": "ut1", "categories": "all"}])
    assert everything.check_url("http://phish.net/").reason == "blocked_domain"
    with pytest.raises(ValueError, match="phishing"):
        _rules(tmp_path, [{"path": path, "format": "ut1", "categories": ["gambling"]}])


def test_flat_archive_needs_all(tmp_path: Path) -> None:
    path = _ut1(tmp_path, {"domains": "flat.com\n", "urls": "flat.org/x\n"})
    rules = _rules(tmp_path, [{"path": path, "format": "ut1"}])
    assert rules.check_url("http://flat.com").reason == "blocked_domain"
    assert rules.check_url("http://flat.org/x/y").reason == "blocked_url"


def test_npz_cache_written_and_invalidated(tmp_path: Path) -> None:
    path = Path(_lines_list(tmp_path, "one.com\n"))
    spec = bl.ListSpec(str(path))
    assert not bl.load_domain_list(spec, seed=7).domains.hashes.size == 0
    assert not list(tmp_path.glob("*.npz"))  # small lists are not cached by default
    first = bl.load_domain_list(spec, seed=7, min_cache_bytes=0)
    caches = list(tmp_path.glob("list.txt.*.npz"))
    assert len(caches) == 1 and first.match_domain(["one.com"])
    path.write_text("one.com\ntwo.com\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = bl.load_domain_list(spec, seed=7, min_cache_bytes=0)
    assert second.match_domain(["two.com"]) == "two.com"
    assert len(list(tmp_path.glob("list.txt.*.npz"))) == 2
    # A different seed or category set is a different key.
    assert bl.cache_key(spec, path, 7) != bl.cache_key(spec, path, 8)
    assert bl.cache_key(spec, path, 7) != bl.cache_key(bl.ListSpec(str(path), "ut1", ("adult",)), path, 7)


def test_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ro = tmp_path / "ro"
    ro.mkdir()
    path = Path(_lines_list(ro, "ro.com\n"))
    ro.chmod(0o555)  # marked read-only: even root must not write there
    try:
        dl = bl.load_domain_list(bl.ListSpec(str(path)), seed=1, min_cache_bytes=0)
        assert dl.match_domain(["ro.com"])
        assert not list(ro.glob("*.npz"))
        assert list((tmp_path / "home" / ".cache" / "pipeline-blocklists").glob("list.txt.*.npz"))
        cache_dir = tmp_path / "cache"
        bl.load_domain_list(bl.ListSpec(str(path)), seed=1, cache_dir=str(cache_dir), min_cache_bytes=0)
        assert list(cache_dir.glob("*.npz"))
    finally:
        ro.chmod(0o755)


def test_hashset_sorted_and_no_false_hits() -> None:
    hs = bl.HashSet(bl.hash_keys([f"d{i}.com" for i in range(1000)], 3), 3)
    assert np.all(np.diff(hs.hashes.astype(np.float64)) >= 0)
    assert hs.first_match(["zz.com", "d999.com"]) == "d999.com"
    assert hs.first_match([f"e{i}.com" for i in range(1000)]) is None


def test_resolve_path_uses_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert bl.resolve_path("configs/lists/domains/demo.txt").exists()
    assert bl.resolve_path(str(tmp_path)) == tmp_path


def test_missing_list_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _rules(tmp_path, [{"path": str(tmp_path / "nope.txt")}])


# ----------------------------------------------------------------- URL words

@pytest.mark.parametrize("url,blocked", [
    ("https://example.com/free-PORN-videos", True),       # hard token (case-insensitive)
    ("https://example.com/pornography-research", False),  # 'porn' is not a token here
    ("https://example.com/sexy-lesbian", True),           # two soft tokens
    ("https://example.com/sex-education", False),         # one soft token
    ("https://example.com/2-girls-1-cup", True),          # banned subword across separators
    ("https://classic-assessments.org/", False),
])
def test_url_words(url: str, blocked: bool, tmp_path: Path) -> None:
    drop = _rules(tmp_path, []).check_url(url)
    assert (drop is not None and drop.reason == "blocked_url_words") is blocked


# ----------------------------------------------------------------- text words

def _words(tmp_path: Path, text: str, **cfg) -> Drop | None:
    return _rules(tmp_path, [], **cfg).check_text(Doc(id="d", text=text))


def test_word_boundary(tmp_path: Path) -> None:
    assert _words(tmp_path, "Our class passed the assessment; Sussex is grassy.") is None
    assert bl.WordMatcher({"ass": ("hard", "en")}).find("class ass-kicking") == [bl.Hit("ass", "hard", "en")]
    assert bl.WordMatcher({"ass": ("hard", "en")}).find("class assay") == []


def test_hard_word_threshold_both_sides(tmp_path: Path) -> None:
    text = "a normal page that mentions xxx once " + "word " * 50
    assert _words(tmp_path, text).reason == "unsafe_words"
    assert _words(tmp_path, text, hard_min_count=2) is None
    assert _words(tmp_path, text + " xxx", hard_min_count=2).reason == "unsafe_words"


def test_multiword_terms(tmp_path: Path) -> None:
    m = bl.WordMatcher({"blow job": ("hard", "en"), "job": ("soft", "en")})
    assert [h.term for h in m.find("a Blow\n  Job here")] == ["blow job"]  # leftmost-longest
    assert [h.term for h in m.find("blow jobs")] == []
    assert [h.term for h in m.find("a job")] == ["job"]
    assert _words(tmp_path, "how about a blow job") is not None


def test_soft_threshold_both_sides(tmp_path: Path) -> None:
    # 3 soft hits in 100 units: ratio 0.03 is not > 0.03, 0.0309 is.
    base = ["sex", "sex", "sex"] + ["word"] * 97
    assert bl.count_units(" ".join(base)) == 100
    assert _words(tmp_path, " ".join(base)) is None
    assert _words(tmp_path, " ".join(base[:-3])).reason == "unsafe_words"
    assert _words(tmp_path, "sex sex") is None  # fewer than soft_min_count
    assert _words(tmp_path, "sex sex", soft_min_count=2).reason == "unsafe_words"


def test_chinese_substring_match(tmp_path: Path) -> None:
    drop = _words(tmp_path, "这个网站有很多乳交视频，不要看。")
    assert drop is not None and "zh:h:乳交" in drop.detail
    # Single-character terms are not scored by default (性 in 性能, 奶 in 牛奶) ...
    assert _words(tmp_path, "这款手机的性能和可能性都很好，我喝牛奶。") is None
    # ... unless configured.
    assert _words(tmp_path, "性能性别性格女性", cjk_min_term_chars=1).reason == "unsafe_words"
    # 口交 sits inside 门口交通 ('traffic at the door'): it is a soft term, so one hit passes.
    assert _words(tmp_path, "酒店门口交通很方便") is None


def test_empty_and_missing_text(tmp_path: Path) -> None:
    rules = _rules(tmp_path, [])
    assert rules(Doc(id="e")).id == "e"
    assert rules(Doc(id="e", text="")).id == "e"
    assert rules(Doc(id="e", html=b"")).id == "e"
    assert rules(Doc(id="e", html=b"<html><script>xxx</script></html>")).id == "e"


def test_text_source_modes(tmp_path: Path) -> None:
    doc = Doc(id="h", html=b"<html><body><p>watch xxx now</p></body></html>")
    assert _rules(tmp_path, [])(doc).reason == "unsafe_words"
    assert isinstance(_rules(tmp_path, [], text_source="text")(doc), Doc)
    assert isinstance(_rules(tmp_path, [], text_source="skip")(doc), Doc)
    text_doc = Doc(id="t", text="watch xxx now", html=b"<p>fine</p>")
    assert _rules(tmp_path, [])(text_doc).reason == "unsafe_words"
    assert isinstance(_rules(tmp_path, [], text_source="html_visible")(text_doc), Doc)


def test_visible_text() -> None:
    raw = (b"<html><head><title>Title</title><style>p{}</style></head><body><!-- xxx -->"
           b"<script>var s = '<p>hidden</p>';</script><p>Caf&eacute; &amp; bar</p></body>")
    text = " ".join(safety.visible_text(raw, None, 10_000).split())
    assert text == "Title Café & bar"
    assert safety.visible_text("<p>日本語</p>".encode("euc-jp"), "euc-jp", 100).strip() == "日本語"
    assert safety.visible_text(b"<p>abcdef</p>", None, 6).strip() == "abc"
    hostile = b"<script" * 20000 + b"<" * 100000
    start = time.perf_counter()
    safety.visible_text(hostile, None, len(hostile))
    assert time.perf_counter() - start < 1.0


def test_rules_shared_per_process() -> None:
    assert safety.get_rules(safety.Config()) is safety.get_rules(safety.Config())


# ----------------------------------------------------------------- Beam shell

def test_stage_through_the_shell(tmp_path: Path) -> None:
    from tests.helpers import run_docs

    docs = [Doc(id="ok", url="https://books.example.org/a", html=b"<p>A fine page.</p>"),
            Doc(id="dom", url="http://www.unsafe-demo.example.com/page", html=b"<p>hi</p>"),
            Doc(id="urlw", url="https://x.org/free-porn", html=b"<p>hi</p>"),
            Doc(id="words", url="https://x.org/p", text="buy xxx here")]
    out = run_docs(docs, [(safety.SPEC, safety.Config())], tmp_path)
    assert [row["id"] for row in out["kept"]] == ["ok"]
    assert sorted((row["id"], row["reason"]) for row in out["rejected"]) == [
        ("dom", "blocked_domain"), ("urlw", "blocked_url_words"), ("words", "unsafe_words")]


# ----------------------------------------------------------------- the real 4.5 M list

def test_real_fineweb_list(tmp_path: Path) -> None:
    """Cold build into an empty cache dir, then the cached load must give the same arrays."""
    path = shared_path("blocklists", "datatrove_fineweb", "url_filterblacklistsv0_3_0.tar.gz")
    spec = bl.ListSpec(str(path), "ut1", "all")
    dl = bl.load_domain_list(spec, 0x5AFE, cache_dir=str(tmp_path))
    assert len(dl.domains) > 4_000_000
    assert dl.match_domain(bl.host_candidates("a.b.0-porno.com"))
    assert not dl.match_domain(bl.host_candidates("wikipedia.org"))
    assert dl.match_url(bl.url_candidates("http://0b1-bofa.org/bofa/wb/x"))
    cached = bl.load_domain_list(spec, 0x5AFE, cache_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) and (cached.domains.hashes == dl.domains.hashes).all()
