"""Open every page of the built site in headless Chromium, offline, and record what a reader sees.

The pages are opened from ``file://`` at 1280x900 with every request that is not to a local file
aborted (and recorded), so a page that needs the network shows it. For each page the crawl
records what the tests in ``test_site.py`` judge: the math left untypeset, the images that did
not load, the console errors, the code blocks wider than their column, the width of the page,
the links and element ids, and the rendered size of each notebook figure.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VIEWPORT = {"width": 1280, "height": 900}
# Chromium binaries to try, in order, when $CHROMIUM does not name one.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = (
    "no Chromium found: install one (Debian/Ubuntu: `apt-get install -y chromium`; elsewhere "
    "`python -m playwright install chromium`) or set CHROMIUM=/path/to/chromium"
)
MATH_WAIT_MS = 30_000

# Everything the page reports, computed in the browser after MathJax has finished.
PAGE_PROBE = r"""
async () => {
  const visible = el => !!(el.offsetParent || el.getClientRects().length) && el.clientWidth > 0;
  // Lazy images load only near the viewport: ask for all of them now, then wait.
  const images = [...document.images];
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));

  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER", "NOSCRIPT"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const rawMath = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let inside = false;
    for (let el = node.parentElement; el; el = el.parentElement) {
      if (skip.has(el.tagName)) { inside = true; break; }
    }
    if (inside || !visible(node.parentElement)) continue;
    const text = node.textContent;
    for (const marker of ["\\(", "\\[", "$$"]) {
      const at = text.indexOf(marker);
      if (at >= 0) rawMath.push(text.slice(Math.max(0, at - 30), at + 50).trim());
    }
  }

  const blocks = [...document.querySelectorAll("div.highlight pre, div.cell_output > *")];
  const overflow = blocks.filter(el => visible(el) && el.scrollWidth > el.clientWidth + 1).map(el => ({
    kind: el.closest("div.cell_output") ? "cell output" : el.closest("div.cell_input") ? "code cell" : "code block",
    excess: el.scrollWidth - el.clientWidth,
    width: el.clientWidth,
    text: (el.innerText || "").split("\n").sort((a, b) => b.length - a.length)[0].slice(0, 100),
  }));

  const figures = [...document.querySelectorAll("div.cell_output img, figure img, div.figure img")]
    .filter(visible)
    .map(img => ({ src: img.currentSrc || img.src, rendered: img.getBoundingClientRect().width,
                   natural: img.naturalWidth }));

  return {
    title: document.title,
    mathSources: document.querySelectorAll(".math").length,
    mathUntypeset: [...document.querySelectorAll(".math")]
        .filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80)),
    mjxContainers: document.querySelectorAll("mjx-container").length,
    rawMath,
    brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0))
        .map(img => img.getAttribute("src")),
    imageCount: images.length,
    overflow,
    figures,
    pageWidth: document.documentElement.scrollWidth,
    viewportWidth: document.documentElement.clientWidth,
    links: [...document.querySelectorAll("a[href]")].map(a => ({ href: a.href, raw: a.getAttribute("href") })),
    ids: [...document.querySelectorAll("[id]")].map(el => el.id)
        .concat([...document.querySelectorAll("a[name]")].map(a => a.getAttribute("name"))),
  };
}
"""


@dataclass
class PageReport:
    """What one page showed: its path relative to the site, and the probe's findings."""

    path: str
    redirect: str | None = None  # a page that only redirects: the target it names
    console_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)


def find_chromium(environ: dict[str, str]) -> str | None:
    """The Chromium to drive: $CHROMIUM, else the first of CHROMIUM_NAMES on the PATH."""
    named = environ.get("CHROMIUM", "").strip()
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def site_pages(site: Path) -> list[Path]:
    """Every HTML page a reader can reach: the site's pages, not the theme's static files."""
    excluded = {"_static", "_sources", "_downloads", "_images"}
    return sorted(p for p in site.rglob("*.html") if not excluded & set(p.relative_to(site).parts))


REDIRECT = re.compile(r'<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', re.I)


def redirect_target(page: Path) -> str | None:
    """The URL a redirect-only page (``<meta http-equiv="refresh">``) sends the reader to."""
    match = REDIRECT.search(page.read_text(encoding="utf-8", errors="replace")[:2000])
    return match[1] if match else None


def _offline(context, blocked: list[str]) -> None:
    def handle(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", handle)


def _wait_for_math(page) -> None:
    """Return once MathJax has typeset the page (at once if the page has no math)."""
    if page.evaluate("() => document.querySelectorAll('.math').length") == 0:
        return
    page.wait_for_function(
        "() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
        timeout=MATH_WAIT_MS,
    )
    page.evaluate("() => window.MathJax.startup.promise.then(() => true)")


def open_page(context, url: str, report: PageReport):
    """A new tab on ``url`` that records console errors and failed loads into ``report``."""
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and report.console_errors.append(msg.text))
    page.on("pageerror", lambda error: report.console_errors.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: request.url.startswith("file:")
            and report.failed_requests.append(request.url))
    page.goto(url, wait_until="load")
    return page


def crawl(site: Path, chromium: str, screenshots: Path, screenshot_pages: dict[str, str],
          search_term: str) -> tuple[list[PageReport], dict[str, Any]]:
    """Visit every page of ``site``; return the reports and the search page's results.

    ``screenshot_pages`` maps a file name in ``screenshots`` to the page (relative path) to
    capture, scrolled to its first displayed formula when it has one.
    """
    from playwright.sync_api import sync_playwright

    reports = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            blocked: list[str] = []
            _offline(context, blocked)
            shots = {page: name for name, page in screenshot_pages.items()}
            for path in site_pages(site):
                relative = path.relative_to(site).as_posix()
                report = PageReport(relative, redirect=redirect_target(path))
                if report.redirect is not None:
                    reports.append(report)  # its target is judged as a link, not opened twice
                    continue
                blocked.clear()
                page = open_page(context, path.as_uri(), report)
                _wait_for_math(page)
                report.probe = page.evaluate(PAGE_PROBE)
                if relative in shots:
                    page.evaluate("""() => { const m = document.querySelector('mjx-container[display="true"]');
                                             if (m) m.scrollIntoView({block: "center"}); }""")
                    page.screenshot(path=str(screenshots / shots[relative]))
                report.blocked_requests = list(blocked)
                reports.append(report)
                page.close()
            search = _search(context, site, search_term, screenshots / "search.png")
        finally:
            browser.close()
    return reports, search


def _search(context, site: Path, term: str, screenshot: Path) -> dict[str, Any]:
    report = PageReport("search.html")
    page = open_page(context, f"{(site / 'search.html').as_uri()}?q={term}", report)
    try:
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results li').length > 0"
            " || /did not match|no results/i.test(document.querySelector('#search-results')?.innerText || '')",
            timeout=MATH_WAIT_MS,
        )
    except Exception:  # noqa: BLE001 - a search that never finishes is reported as no result
        pass
    results = page.evaluate("() => [...document.querySelectorAll('#search-results li a')].map(a => a.textContent)")
    page.screenshot(path=str(screenshot))
    page.close()
    return {"results": results, "console_errors": report.console_errors}
