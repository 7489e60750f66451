"""``lstream report``: the HTML page drawn in a real headless Chromium, read back from its DOM.

The page's script marks each chart's container with what uPlot drew
(``data-series``, ``data-points``, ``data-values``, ``data-marks``); the
tests load the page in Chromium (``--dump-dom`` after the scripts ran), read
those attributes and take a screenshot whose pixels must show the charts.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from lstream_cli.browser import dump_dom
from lstream_cli.cli import run
from tests.engine.httpserver import TestServer

_CHART_RE = re.compile(r'<div class="chart" id="([a-z-]+)"([^>]*)>')
_ATTR_RE = re.compile(r'data-([a-z-]+)="([^"]*)"')


def _charts(page: Path) -> tuple[dict[str, dict[str, str]], str]:
    dom = dump_dom(page)
    charts = {cid: dict(_ATTR_RE.findall(attrs)) for cid, attrs in _CHART_RE.findall(dom)}
    return charts, dom


def _bench(tmp_path: Path, name: str, url: str, *flags: str) -> tuple[Path, dict[str, object]]:
    out = tmp_path / f"{name}.json"
    assert run(["bench", url, "--workers", "1", "--json", str(out), *flags]) == 0
    return out, json.loads(out.read_text())


def _non_white_share(png: Path) -> tuple[float, int]:
    """The share of pixels that are not white, and how many colours the picture has."""
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(rgb.width * rgb.height) or []
        total = rgb.width * rgb.height
    white = sum(n for n, c in colours if c == (255, 255, 255))
    return (total - white) / total, len(colours)


def test_a_staged_bench_report_draws_every_chart_in_chromium(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result, doc = _bench(
        tmp_path, "staged", server.url("/delay?ms=20&size=3000"), "--stages", "1s:4,1s:4,1s:0"
    )
    seconds = len(doc["series"])  # type: ignore[arg-type]
    assert seconds == 3
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    assert run(["report", str(result), "-o", str(page), "--png", str(png)]) == 0
    charts, dom = _charts(page)
    assert re.search(r'<body[^>]*data-charts-drawn="7"', dom)
    expected_series = {
        "chart-rps": 1,
        "chart-in-flight": 2,  # the run and its target (a closed-loop ramp)
        "chart-errors": 1,
        "chart-ttfb": 3,  # p50, p90, p99
        "chart-total": 3,
        "chart-bytes": 1,
        "chart-ttfb-histogram": 1,
    }
    assert set(charts) == set(expected_series)
    for cid, n in expected_series.items():
        assert charts[cid]["drawn"] == "1", cid
        assert int(charts[cid]["series"]) == n, cid
    for cid in ("chart-rps", "chart-in-flight", "chart-errors", "chart-bytes"):
        assert charts[cid]["points"] == str(seconds), cid
        assert set(charts[cid]["values"].split(",")) == {str(seconds)}, cid
    assert charts["chart-ttfb-histogram"]["points"] == "40"
    # Labels and tables came through.
    assert "staged target" in dom and "TTFB (ms)" in dom and "1s:4, 1s:4, 1s:0" in dom
    # The screenshot: the whole page, with drawn charts in it.
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] == 1280 and im.size[1] > 2000
    share, colours = _non_white_share(png)
    assert share > 0.02 and colours > 20


def test_two_runs_are_overlaid_under_their_labels(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = server.url("/delay?ms=10")
    short, a = _bench(tmp_path, "short", url, "-z", "1.5s", "-c", "2")
    long, b = _bench(tmp_path, "long", url, "-z", "3.5s", "-c", "4")
    n_a, n_b = len(a["series"]), len(b["series"])  # type: ignore[arg-type]
    assert (n_a, n_b) == (2, 4)
    page = tmp_path / "overlay.html"
    code = run(
        ["report", str(short), str(long), "--label", "before", "--label", "after", "-o", str(page)]
    )
    assert code == 0
    charts, dom = _charts(page)
    rps = charts["chart-rps"]
    assert (rps["series"], rps["points"], rps["values"]) == ("2", str(n_b), f"{n_a},{n_b}")
    assert charts["chart-ttfb"]["series"] == "6"
    assert charts["chart-ttfb-histogram"]["values"] == "40,40"
    assert "before" in dom and "after" in dom and "short.json" in dom


def test_a_compare_modes_result_marks_the_limits(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = tmp_path / "modes.json"
    sweep = ["compare-modes", "--sizes", "1MB,7MB,11MB", "--time-scale", "100"]
    assert run([*sweep, "--json", str(result)]) == 0
    rows = json.loads(result.read_text())["rows"]
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    ok = [sum(1 for r in rows if r["mode"] == m and r["ok"]) for m in modes]
    assert ok[modes.index("buffered")] == 1 and ok[modes.index("stream")] == 3
    page, png = tmp_path / "modes.html", tmp_path / "modes.png"
    assert run(["report", str(result), "-o", str(page), "--png", str(png)]) == 0
    charts, dom = _charts(page)
    assert set(charts) == {"chart-compare-ttfb", "chart-compare-total"}
    for chart in charts.values():
        assert chart["series"] == str(len(modes)) and chart["points"] == "3"
        assert chart["values"] == ",".join(map(str, ok))  # failed cells are not drawn
        assert chart["marks"] == "2"  # 6,291,556 B and 10 MiB, both inside the axis
    assert "buffered response limit 6,291,556 B" in dom  # the table's limit column
    share, _ = _non_white_share(png)
    assert share > 0.02


def test_the_page_loads_nothing_from_anywhere(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result, _ = _bench(tmp_path, "run", server.url("/ok"), "-n", "20")
    page = tmp_path / "r.html"
    assert run(["report", str(result), "-o", str(page)]) == 0
    text = page.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert "uPlot" in text and "Permission is hereby granted" in text  # its licence kept


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "not a bench or compare-modes result: not JSON (line 1)"),
        ('{"schema_version": 2, "url": "http://x/", "status": 200}', "not a bench or compare"),
        ("[1, 2]", "not a bench or compare-modes result"),
        ('{"schema_version": 99, "rows": []}', "schema_version 99: written by a newer lstream"),
    ],
)
def test_a_file_that_is_not_a_result_is_a_usage_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    page = tmp_path / "r.html"
    assert run(["report", str(bad), "-o", str(page)]) == 2
    err = capfd.readouterr().err
    assert err.startswith("lstream: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not page.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json", "-o", "r.html"], "missing.json: no such file"),
        (["run.json", "-o", "r.html", "--label", "a", "--label", "b"], "2 --label for 1"),
        (["run.json", "-o", "-"], "-o/--output names the HTML file"),
        (["run.json", "-o", "r.html", "--png", "r.html"], "-o and --png both name"),
        (["run.json", "-o", "no-such-dir/r.html"], "no such directory"),
    ],
)
def test_bad_report_arguments_are_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.json").write_text('{"schema_version": 2, "rows": []}')
    assert run(["report", *args]) == 2
    err = capfd.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_png_without_a_browser_exits_1_and_keeps_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "modes.json").write_text('{"schema_version": 2, "rows": []}')
    monkeypatch.setenv("LSTREAM_BROWSER", "no-such-browser-here")
    page, png = out / "r.html", out / "r.png"
    assert run(["report", str(out / "modes.json"), "-o", str(page), "--png", str(png)]) == 1
    err = capfd.readouterr().err
    assert "lstream: error: LSTREAM_BROWSER=no-such-browser-here: no such browser" in err
    assert page.is_file() and not png.exists()
    assert set(out.iterdir()) == {out / "modes.json", page}  # no temporary left behind


def test_open_hands_the_page_to_the_web_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    seen = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(seen)!r}, 'w').write(sys.argv[1])\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BROWSER", str(fake))
    (tmp_path / "modes.json").write_text('{"schema_version": 2, "rows": []}')
    page = tmp_path / "r.html"
    assert run(["report", str(tmp_path / "modes.json"), "-o", str(page), "--open"]) == 0
    deadline = time.monotonic() + 20
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen.read_text() == page.resolve().as_uri()
    assert os.path.getsize(page) > 50_000  # the page with uPlot inlined


def test_a_run_with_events_gets_an_events_chart(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.scripted_server import scripted_server

    result = tmp_path / "events.json"
    with scripted_server() as sse:
        url = f"{sse.base}/sse?n=10&gap_ms=50"
        flags = ["-z", "2.2s", "-c", "2", "--workers", "1", "--events", "sse"]
        assert run(["bench", url, "--auth", "none", *flags, "--json", str(result)]) == 0
    seconds = len(json.loads(result.read_text())["series"])
    page = tmp_path / "events.html"
    assert run(["report", str(result), "-o", str(page)]) == 0
    charts, dom = _charts(page)
    events = charts["chart-events"]
    assert (events["series"], events["points"], events["values"]) == (
        "1",
        str(seconds),
        str(seconds),
    )
    assert re.search(r'<body[^>]*data-charts-drawn="8"', dom)


def test_a_result_without_series_shows_its_tables_and_histogram(
    server: TestServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A schema_version 1 bench result (no series) still gets its summaries drawn."""
    _, doc = _bench(tmp_path, "new", server.url("/ok"), "-n", "30")
    old = {k: v for k, v in doc.items() if k not in ("series", "stages")}
    old["schema_version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(old))
    page = tmp_path / "old.html"
    assert run(["report", str(tmp_path / "old.json"), "-o", str(page)]) == 0
    charts, dom = _charts(page)
    assert set(charts) == {"chart-ttfb-histogram"} and charts["chart-ttfb-histogram"]["drawn"]
    assert "No per-second series" in dom and "TTFB (ms)" in dom


def test_the_percentile_table_has_ttfb_by_connection_when_the_result_has_it(
    server: TestServer, tmp_path: Path
) -> None:
    _, doc = _bench(tmp_path, "conn", server.url("/ok"), "-n", "12", "-c", "3")
    older = {k: v for k, v in doc.items() if k not in ("ttfb_new_conn_ms", "ttfb_reused_conn_ms")}
    (tmp_path / "older.json").write_text(json.dumps(older))
    pages = {}
    for name in ("conn", "older"):
        page = tmp_path / f"{name}.html"
        assert run(["report", str(tmp_path / f"{name}.json"), "-o", str(page)]) == 0
        pages[name] = page.read_text()
    assert "TTFB, new connection (ms)" in pages["conn"]
    assert "TTFB, reused connection (ms)" in pages["conn"]
    assert "TTFB, new connection" not in pages["older"] and "TTFB (ms)" in pages["older"]
