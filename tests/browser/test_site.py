"""The built website as a reader sees it, in a real headless Chromium with no network.

Every page of ``_build/html`` is opened from ``file://`` at 1280x900, with any request that is not
to a local file blocked, and must show its formulas typeset by MathJax, load all its images, log
no JavaScript error, keep its code inside the column, link only to files and anchors that exist,
print figure text no smaller than 9 px, and never be wider than the window. A chapter's
downloadable notebook must hold its stored outputs. The search page must find "SAG". Screenshots
of a chapter's formulas, the scorecard and the search results are written to
``_build/screenshots``.

Run it after building the site (``jupyter-book build .``):
``python -m pytest tests/browser -p no:cacheprovider``. It is skipped when there is no site, or
when the site is older than its sources (a chapter, its notebook, _config.yml, _toc.yml or the
site's style and hook changed since the build), so that it never judges a stale site; it fails when no Chromium can be found.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from site_crawl import INSTALL_HINT, crawl, find_chromium

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
SCREENSHOT_PAGES = {"chapter_formulas.png": "book/stochastic/sag.html",
                    "scorecard.png": "book/scorecard.html"}
SEARCH_TERM = "SAG"
MIN_TEXT_PX = 9.0
NONEXISTENT_REPOSITORY = "github.com/memopt/memopt"
LAUNCH_SERVICES = ("https://colab.research.google.com", "https://mybinder.org")


def _sources() -> list[Path]:
    book = ROOT / "book"
    return [ROOT / "_config.yml", ROOT / "_toc.yml", book / "references.bib", *book.rglob("*.md"),
            *book.rglob("*.ipynb"), *(book / "_static").rglob("*"), *(book / "_ext").glob("*.py")]


def _stale_reason() -> str | None:
    if not (SITE / "index.html").is_file():
        return f"the site is not built ({SITE.relative_to(ROOT)} has no index.html): run `jupyter-book build .` first"
    built = (SITE / ".buildinfo").stat().st_mtime if (SITE / ".buildinfo").is_file() else 0.0
    newer = [p for p in _sources() if p.is_file() and p.stat().st_mtime > built]
    if newer:
        names = ", ".join(sorted(p.relative_to(ROOT).as_posix() for p in newer)[:3])
        return f"the site in _build/html is older than its sources ({names}): rebuild it first"
    return None


pytestmark = pytest.mark.skipif(_stale_reason() is not None, reason=_stale_reason() or "")


@pytest.fixture(scope="module")
def site():
    chromium = find_chromium(dict(os.environ))
    if chromium is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[test]'", pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reports, search = crawl(SITE, chromium, SCREENSHOTS, SCREENSHOT_PAGES, SEARCH_TERM)
    pages = {r.path: r for r in reports if r.redirect is None}
    redirects = {r.path: r.redirect for r in reports if r.redirect is not None}
    return pages, search, redirects


def _report(findings: dict[str, list], what: str) -> str:
    lines = [f"{sum(map(len, findings.values()))} {what} on {len(findings)} pages:"]
    for page, items in sorted(findings.items()):
        lines += [f"  {page}: {item}" for item in items[:8]]
        if len(items) > 8:
            lines.append(f"  {page}: ... and {len(items) - 8} more")
    return "\n".join(lines)


def test_the_site_has_pages_with_math(site):
    reports, _, _ = site
    assert len(reports) > 5
    assert sum(1 for r in reports.values() if r.probe["mathSources"]) >= 3


def test_math_is_typeset(site):
    reports, _, _ = site
    findings = {}
    for path, r in reports.items():
        problems = [f"untypeset: {t!r}" for t in r.probe["mathUntypeset"]]
        problems += [f"raw TeX in the text: {t!r}" for t in r.probe["rawMath"]]
        if r.probe["mathSources"] and not r.probe["mjxContainers"]:
            problems.append("no mjx-container on a page with math")
        if problems:
            findings[path] = problems
    assert not findings, _report(findings, "formulas not typeset")


def test_no_page_needs_the_network(site):
    reports, _, _ = site
    findings = {p: r.blocked_requests for p, r in reports.items() if r.blocked_requests}
    assert not findings, _report(findings, "requests to the network")


def test_every_image_loads(site):
    reports, _, _ = site
    findings = {p: r.probe["brokenImages"] + r.failed_requests for p, r in reports.items()
                if r.probe["brokenImages"] or r.failed_requests}
    assert not findings, _report(findings, "images or files that did not load")


def test_no_javascript_errors(site):
    reports, search, _ = site
    findings = {p: r.console_errors for p, r in reports.items() if r.console_errors}
    if search["console_errors"]:
        findings["search.html?q=" + SEARCH_TERM] = search["console_errors"]
    assert not findings, _report(findings, "console errors")


def test_code_stays_in_its_column(site):
    reports, _, _ = site
    findings = {p: [f"{o['kind']} {o['excess']} px wider than its {o['width']} px: {o['text']!r}"
                    for o in r.probe["overflow"]]
                for p, r in reports.items() if r.probe["overflow"]}
    assert not findings, _report(findings, "code blocks wider than their column")


def test_no_page_scrolls_sideways(site):
    """Wide tables and code scroll inside their own box, if at all, never the whole page."""
    reports, _, _ = site
    findings = {p: [f"{r.probe['pageWidth']} px wide in a {r.probe['viewportWidth']} px window"]
                for p, r in reports.items() if r.probe["pageWidth"] > r.probe["viewportWidth"]}
    assert not findings, _report(findings, "pages wider than the window")


def _local_target(href: str) -> tuple[Path, str] | None:
    parts = urlsplit(href)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.path)), unquote(parts.fragment)


def test_every_internal_link_resolves(site):
    reports, _, _ = site
    ids = {(SITE / p).resolve(): set(r.probe["ids"]) for p, r in reports.items()}
    findings = {}
    for path, r in reports.items():
        broken = []
        for link in r.probe["links"]:
            target = _local_target(link["href"])
            if target is None:
                continue
            file, anchor = target
            if not file.exists():
                broken.append(f"{link['raw']} (no such file)")
            elif anchor and file.resolve() in ids and anchor not in ids[file.resolve()]:
                broken.append(f"{link['raw']} (no element with id {anchor!r})")
        if broken:
            findings[path] = sorted(set(broken))
    assert not findings, _report(findings, "broken internal links")


def test_redirects_lead_to_pages(site):
    _, _, redirects = site
    broken = {p: [t] for p, t in redirects.items() if not (SITE / p).parent.joinpath(t.split("#")[0]).is_file()}
    assert not broken, _report(broken, "redirects to missing pages")


def test_search_finds_sag(site):
    _, search, _ = site
    assert search["results"], f"the search page returned no result for {SEARCH_TERM!r}"
    assert any("SAG" in title for title in search["results"]), search["results"]


def _figure_font_points() -> float:
    import matplotlib

    from memopt.plotting import STYLE

    return float(STYLE.get("font.size", matplotlib.rcParamsDefault["font.size"]))


def text_pixels(points: float, dpi: float, rendered: float, natural: float) -> float:
    """Height on screen of text of ``points`` in an image of ``dpi`` shown ``rendered``/``natural``."""
    return points * dpi / 72.0 * rendered / natural


def test_figure_text_is_readable(site):
    from PIL import Image

    reports, _, _ = site
    points = _figure_font_points()
    findings = {}
    for path, r in reports.items():
        small = []
        for figure in r.probe["figures"]:
            target = _local_target(figure["src"])
            if target is None or not figure["natural"] or not target[0].is_file():
                continue
            with Image.open(target[0]) as image:
                dpi = image.info.get("dpi")
            if not dpi:
                continue  # not a matplotlib figure: no font size to judge
            px = text_pixels(points, float(dpi[0]), figure["rendered"], figure["natural"])
            if px < MIN_TEXT_PX:
                small.append(f"{target[0].name[:16]}: {points:g} pt text shows at {px:.1f} px "
                             f"({figure['natural']} px wide image shown at {figure['rendered']:.0f} px)")
        if small:
            findings[path] = small
    assert not findings, _report(findings, f"figures whose text shows below {MIN_TEXT_PX:g} px")


def test_no_link_to_a_repository_that_does_not_exist(site):
    reports, _, _ = site
    repository = os.environ.get("MEMOPT_REPOSITORY", "").strip()
    findings = {}
    for path, r in reports.items():
        wrong = []
        for link in r.probe["links"]:
            href = link["href"]
            if NONEXISTENT_REPOSITORY in href:
                wrong.append(href)
            elif href.startswith(LAUNCH_SERVICES) and not repository:
                wrong.append(f"{href} (launch button without MEMOPT_REPOSITORY)")
            elif href.startswith("https://colab.research.google.com/github/"):
                match = re.match(r"https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/(.+)$", href)
                if match is None or not (ROOT / match[1]).is_file() or not match[1].endswith(".ipynb"):
                    wrong.append(f"{href} (not a notebook of this repository)")
        if wrong:
            findings[path] = wrong
    assert not findings, _report(findings, "links to a repository that does not exist")


def _chapter_pages(reports) -> list[str]:
    """The pages of the site that are chapters with a paired notebook (at least one)."""
    chapters = [p for p in reports if p.startswith("book/") and (ROOT / p).with_suffix(".ipynb").is_file()]
    assert chapters, "the site has no chapter pages"
    return chapters


def test_chapters_offer_their_downloads(site):
    """Each chapter with a paired notebook offers its .md and its executed .ipynb for download."""
    reports, _, _ = site
    chapters = _chapter_pages(reports)
    missing = {}
    for path in chapters:
        hrefs = {link["raw"] for link in reports[path].probe["links"]}
        stem = path.removesuffix(".html")
        wanted = [f"_sources/{stem}.md", f"_sources/{stem}.ipynb"]
        absent = [w for w in wanted if not any(h.endswith(w) for h in hrefs)]
        if absent:
            missing[path] = absent
    assert not missing, _report(missing, "download buttons missing")


@pytest.mark.parametrize("points, dpi, rendered, natural, expected", [
    (10, 72, 100, 100, 10.0),     # 10 pt at 72 dpi, unscaled: 10 px
    (10, 100, 500, 1000, 6.944),  # 13.9 px in the image, shown at half size
    (10, 144, 360, 720, 10.0),    # a retina figure shown at half its width
])
def test_text_pixels(points, dpi, rendered, natural, expected):
    assert text_pixels(points, dpi, rendered, natural) == pytest.approx(expected, rel=1e-3)


def _code_outputs(notebook: Path) -> int:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return sum(len(cell.get("outputs", [])) for cell in cells if cell.cell_type == "code")


def test_downloaded_notebooks_are_executed(site):
    """The .ipynb a chapter offers for download holds the chapter's stored outputs."""
    reports, _, _ = site
    chapters = _chapter_pages(reports)
    findings = {}
    for path in chapters:
        downloaded = SITE / "_sources" / Path(path).with_suffix(".ipynb")
        stored = (ROOT / path).with_suffix(".ipynb")
        if not downloaded.is_file():
            findings[path] = ["no downloadable .ipynb"]
            continue
        offered, kept = _code_outputs(downloaded), _code_outputs(stored)
        if offered == 0:
            findings[path] = [f"{downloaded.relative_to(SITE)} has no outputs"]
        elif offered != kept:
            findings[path] = [f"{offered} outputs, the stored {stored.relative_to(ROOT)} has {kept}"]
    assert not findings, _report(findings, "downloadable notebooks without their outputs")
