"""report.html in a real headless Chromium: no console errors or JS exceptions, charts drawn,
and record content that carries markup (``<script>``, ``<img onerror>``) stays text.

Uses ``chromium --headless --dump-dom`` with ``--enable-logging=stderr``: every console message
and uncaught exception is logged as a ``CONSOLE`` line, and the dumped DOM carries the
attributes the page's script sets after counting each chart's shapes. The hostile strings log
to the console if they ever run, so an escaping bug shows up as a console line. Skips only
when no chromium binary is on PATH (``make browser`` installs Debian's package).
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pipeline.report.budget import build_report
from pipeline.report.compare import compare_data, compare_html
from pipeline.report.config import ReportConfig
from pipeline.report.render_html import render_html
from tests.report_fixtures import fixed_summary, hostile_samples, rich_summary

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium not installed (make browser)")


def _load(path) -> tuple[str, list[str]]:
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom",
         path.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def _shapes(dom: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'<svg class="chart" id="([\w-]+)"[^>]*data-shapes="(\d+)"', dom)}


def test_console_capture_sees_errors(tmp_path):
    """The harness itself must catch a JS exception and a console line (otherwise the real
    tests prove nothing)."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.log('pwned-probe');undefinedFunction();"
                    "</script></body></html>")
    _, console = _load(page)
    assert any("undefinedFunction" in line for line in console)
    assert any("pwned-probe" in line for line in console)


def test_report_html_renders_without_errors(tmp_path):
    report = build_report(rich_summary(), ReportConfig(models=["1B", "7B"], mix={"en": 0.6, "zh": 0.4}),
                          {"kept": 16e9, "tokens": None}, "/out/<b>x</b>", hostile_samples())
    path = tmp_path / "report.html"
    path.write_text(render_html(report))
    dom, console = _load(path)
    assert console == []  # nothing logged: no hostile string ran, no JS error
    assert not re.search(r"<img\b", dom) and dom.count("<script>") == 1
    tuning = len(report["tuning"]["statistics"])
    total = 4 + tuning
    assert f'data-charts-drawn="{total}"' in dom and f'data-charts-total="{total}"' in dom
    shapes = _shapes(dom)
    assert {"chart-funnel", "chart-epochs", "chart-lengths", "chart-scurve"} <= set(shapes)
    assert shapes["chart-funnel"] >= 4 + 2          # bars per stage + axes
    assert shapes["chart-epochs"] >= 2 * 2 + 2      # a point per model per series + lines
    assert shapes["chart-lengths"] >= 3
    assert shapes["chart-scurve"] >= 3
    for i in range(tuning):
        assert shapes[f"chart-tuning-{i}"] >= 3     # axis, bars, threshold line


def test_compare_html_renders_without_errors(tmp_path):
    a = build_report(fixed_summary(), ReportConfig(models=["7B"]), {})
    b = build_report(rich_summary(), ReportConfig(models=["7B"]), {}, "", hostile_samples())
    path = tmp_path / "compare.html"
    path.write_text(compare_html(compare_data(a, b, fixed_summary(), rich_summary(), "a", "b<i>")))
    dom, console = _load(path)
    assert console == []
    assert _shapes(dom)["chart-compare-funnel"] >= 4
