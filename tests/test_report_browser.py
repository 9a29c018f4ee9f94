"""report.html in a real headless Chromium: no console errors or JS exceptions, charts drawn.

Uses ``chromium --headless --dump-dom`` with ``--enable-logging=stderr``: every console message
and uncaught exception is logged as a ``CONSOLE`` line, and the dumped DOM carries the
attributes the page's script sets after counting each chart's shapes. Skips only when no
chromium binary is on PATH (``make browser`` installs Debian's package).
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pipeline.report import write_reports
from tests.test_report import fixed_summary

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium not installed (make browser)")


def _load(path) -> tuple[str, list[str]]:
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom",
         path.as_uri()], capture_output=True, text=True, timeout=60)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def test_console_capture_sees_errors(tmp_path):
    """The harness itself must catch a JS exception (otherwise the real test proves nothing)."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    _, console = _load(page)
    assert any("undefinedFunction" in line for line in console)


def test_report_html_renders_without_errors(tmp_path):
    write_reports(None, str(tmp_path), fixed_summary())
    dom, console = _load(tmp_path / "report.html")
    assert console == []
    assert 'data-charts-drawn="4"' in dom and 'data-charts-total="4"' in dom
    shapes = {m.group(1): int(m.group(2)) for m in re.finditer(
        r'<svg class="chart" id="([\w-]+)"[^>]*data-shapes="(\d+)"', dom)}
    assert set(shapes) == {"chart-funnel", "chart-epochs", "chart-lengths", "chart-scurve"}
    assert shapes["chart-funnel"] >= 4 + 2          # bars per stage + axes
    assert shapes["chart-epochs"] >= 2 * 2 + 2      # a point per model per series + lines
    assert shapes["chart-lengths"] >= 3
    assert shapes["chart-scurve"] >= 3
