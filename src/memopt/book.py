"""Tools for the book itself: paired notebooks, their execution, the scorecard, the build cache.

The MyST-Markdown file of a chapter is its source; the ``.ipynb`` beside it (jupytext pairing
``ipynb,md:myst``) holds the same code and the stored outputs that nbval compares against. The
scorecard page is generated from the claim records (output metadata
:data:`memopt.claims.CLAIM_KEY`) in those stored outputs, never typed by hand.

    python -m memopt.book execute [book/stochastic/sgd.md ...]   # md -> executed ipynb
    python -m memopt.book sync [book/stochastic/sgd.md ...]      # text-only md edits -> ipynb
    python -m memopt.book scorecard [--check] [--from-cache]     # write (or verify) scorecard.md
    python -m memopt.book scorecard --from-cache --compare       # a build's claims vs scorecard.md
    python -m memopt.book check                                  # pairing, execution, scorecard
    python -m memopt.book seed-cache                             # stored outputs -> build cache
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from memopt.claims import BOUND, CLAIM_KEY, FAIL, KINDS, NOT_REPRODUCED, PASS, REPRODUCTION, SANITY, UNDECIDED

BOOK = Path("book")
SCORECARD = "scorecard.md"
BUILD_CACHE = Path("_build/.jupyter_cache")
NOTEBOOK_MARKER = re.compile(r"^---\s*\n.*?format_name:\s*myst.*?\n---", re.S)


def notebook_sources(book: Path = BOOK) -> list[Path]:
    """The chapters that are notebooks (MyST-Markdown files with a jupytext header), in the
    order of the table of contents beside ``book`` (``_toc.yml``), then by path."""
    book = Path(book)
    order = {name: i for i, name in enumerate(_toc_files(book.parent / "_toc.yml"))}
    chapters = [p for p in book.rglob("*.md") if NOTEBOOK_MARKER.match(p.read_text())]
    return sorted(chapters, key=lambda p: (order.get(p.relative_to(book.parent).with_suffix("").as_posix(),
                                                     len(order)), p))


def _toc_files(toc: Path) -> list[str]:
    """The files a Jupyter Book table of contents lists, in order (none if there is no toc)."""
    if not toc.exists():
        return []
    import yaml  # noqa: PLC0415 - comes with jupyter-book

    def walk(entry) -> list[str]:
        found = [entry["file"]] if isinstance(entry, dict) and "file" in entry else []
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key, []) if isinstance(entry, dict) else []:
                found += walk(child)
        return found

    content = yaml.safe_load(toc.read_text()) or {}
    return [content.get("root", "")] + walk(content)


def cells(path: Path) -> list[tuple[str, str]]:
    """(cell type, stripped source) of every cell of a notebook (.md or .ipynb)."""
    import jupytext  # noqa: PLC0415 - a book-building dependency, not a library one

    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


def code_cells(path: Path) -> list[str]:
    """The source of every code cell of a notebook (.md or .ipynb), stripped."""
    return [source for kind, source in cells(path) if kind == "code"]


def pairing_problems(book: Path = BOOK) -> list[str]:
    """What is wrong with the paired notebooks: a missing or stale .ipynb, unexecuted cells,
    stored errors. An empty list means every .ipynb holds its .md's code, fully executed."""
    import nbformat  # noqa: PLC0415

    problems = []
    for md in notebook_sources(book):
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            problems.append(f"{md}: no paired {ipynb.name} (run: python -m memopt.book execute {md})")
            continue
        if code_cells(md) != code_cells(ipynb):
            problems.append(f"{ipynb}: code differs from {md.name} (run: python -m memopt.book execute {md})")
            continue
        if cells(md) != cells(ipynb):
            problems.append(f"{ipynb}: text differs from {md.name} (run: python -m memopt.book sync {md})")
        stored = [c for c in nbformat.read(ipynb, as_version=4).cells if c.cell_type == "code"]
        if any(c.get("execution_count") is None for c in stored):
            problems.append(f"{ipynb}: not fully executed, so nbval would compare nothing")
        if any(o.get("output_type") == "error" for c in stored for o in c.get("outputs", [])):
            problems.append(f"{ipynb}: stored outputs contain an error")
    return problems


def execute(sources: list[Path], timeout: int = 600) -> None:
    """Execute each chapter's .md from scratch and store the result as its paired .ipynb."""
    import jupytext  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415

    for md in sources:
        md = Path(md)
        notebook = jupytext.read(md)
        print(f"executing {md}", file=sys.stderr)
        # No timing metadata: the stored notebook then changes only when its outputs do.
        NotebookClient(
            notebook, timeout=timeout, record_timing=False,
            resources={"metadata": {"path": str(md.parent)}},
        ).execute()
        _write_ipynb(notebook, md.with_suffix(".ipynb"))


def _write_ipynb(notebook, path: Path) -> None:
    """Write with cell ids numbered in order, so re-executing a chapter changes only what its
    outputs change (jupytext would draw fresh random ids)."""
    import jupytext  # noqa: PLC0415

    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"
    jupytext.write(notebook, path, fmt="ipynb")


def sync(sources: list[Path]) -> None:
    """Carry text-only edits of each chapter's .md into its .ipynb, keeping the stored outputs.
    Refuses a chapter whose code changed: its outputs must come from executing it."""
    import jupytext  # noqa: PLC0415
    from jupytext.combine import combine_inputs_with_outputs  # noqa: PLC0415

    for md in sources:
        ipynb = Path(md).with_suffix(".ipynb")
        if code_cells(md) != code_cells(ipynb):
            raise ValueError(f"{md}: its code changed, so run: python -m memopt.book execute {md}")
        combined = combine_inputs_with_outputs(jupytext.read(md), jupytext.read(ipynb), fmt="md:myst")
        _write_ipynb(combined, ipynb)


def claim_records(notebook) -> list[dict]:
    """The claim records in a notebook's stored outputs, in order (a path or a notebook)."""
    import nbformat  # noqa: PLC0415

    if isinstance(notebook, (str, Path)):
        notebook = nbformat.read(notebook, as_version=4)
    records = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(CLAIM_KEY)
            if record is not None:
                records.append(dict(record))
    return records


def cached_notebook(md: Path, cache_dir: Path = BUILD_CACHE):
    """The chapter ``md`` with the outputs the book build rendered: its entry in the build's
    execution cache (an execution by the build, or a stored notebook seeded by seed-cache).

    The build's ``jupyter_execute`` copies are no substitute: a page rendered from the cache is
    written there without its outputs.
    """
    import jupytext  # noqa: PLC0415
    from jupyter_cache import get_cache  # noqa: PLC0415

    try:
        _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(jupytext.read(md))
    except KeyError:
        raise FileNotFoundError(f"{md} has no executed entry in {cache_dir}: build the book first") from None
    return merged


def chapter_title(md: Path) -> str:
    text = md.read_text()
    front = NOTEBOOK_MARKER.match(text)
    for line in text[front.end() if front else 0:].splitlines():  # past the front matter's comments
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|$#])")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no emphasis, math or column breaks)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def scorecard_markdown(book: Path = BOOK, cache_dir: Path | None = None) -> str:
    """The scorecard page for the claims recorded in the chapters' stored notebooks, or, with
    ``cache_dir``, in the outputs a book build rendered (:func:`cached_notebook`).

    Reproductions and bounds are the book's results and make the headline; sanity checks
    (identities, counts, agreements with a reference implementation) are listed apart, because
    they cannot fail while the code runs as designed."""
    book = Path(book)
    mark = {PASS: "**pass**", NOT_REPRODUCED: "**not reproduced**", FAIL: "**FAIL**", UNDECIDED: "**UNDECIDED**"}
    overview, sections, reasons = [], [], []
    results = dict.fromkeys(mark, 0)
    kinds = dict.fromkeys((*KINDS, None), 0)
    post_hoc = 0
    for md in notebook_sources(book):
        relative = md.relative_to(book)
        if cache_dir is None:
            notebook = md.with_suffix(".ipynb")
            if not notebook.exists():
                raise FileNotFoundError(f"{notebook} is missing: execute the chapter first")
        else:
            notebook = cached_notebook(md, cache_dir)
        title = _cell(chapter_title(md))
        counts = dict.fromkeys(mark, 0)
        chapter_kinds = dict.fromkeys((*KINDS, None), 0)
        chapter_post_hoc = 0
        rows, sanity_rows = [], []
        for record in claim_records(notebook):
            kind = record.get("kind")
            chapter_kinds[kind] += 1
            status = mark[record["status"]]
            if "reason" in record:
                reasons.append(f"{len(reasons) + 1}. {_cell(record['claim'])}: {_cell(record['reason'])}")
                status += f" (note {len(reasons)})"
            late = record.get("decided", "before").startswith("after")
            if late:
                status += f" <br> *criterion set {_cell(record['decided'])}*"
            measured = _cell(record["measured"])
            if "uncertainty" in record:
                measured += f" <br> *{_cell(record['uncertainty'])}*"
            claim = f"{_cell(record['claim'])} <br> *{_cell(record['source'])}*"
            if kind == SANITY:
                sanity_rows.append(f"| {claim} | {_cell(record['expected'])} | {measured} | {status} |")
                continue
            counts[record["status"]] += 1
            chapter_post_hoc += late
            rows.append(f"| {claim} | {kind or 'unclassified'} | {_cell(record.get('paper', 'not stated'))} | "
                        f"{_cell(record['expected'])} | {measured} | {status} |")
        for status, count in counts.items():
            results[status] += count
        for kind, count in chapter_kinds.items():
            kinds[kind] += count
        post_hoc += chapter_post_hoc
        overview.append(f"| [{title}]({relative.as_posix()}) | {chapter_kinds[REPRODUCTION]} | {chapter_kinds[BOUND]} | "
                        f"{counts[PASS]} | {counts[NOT_REPRODUCED]} | {counts[FAIL] + counts[UNDECIDED]} | "
                        f"{chapter_post_hoc} | {chapter_kinds[SANITY]} |")
        sections += ["", f"## {title}", "", f"Chapter: [{title}]({relative.as_posix()})", ""]
        if rows:
            sections += ["| Claim | Kind | Paper | Criterion | Measured | Verdict |",
                         "| --- | --- | --- | --- | --- | --- |", *rows]
        if sanity_rows:
            sections += ["", "Sanity checks:", "", "| Check | Criterion | Measured | Verdict |",
                         "| --- | --- | --- | --- |", *sanity_rows]
    unclassified = f" ({kinds[None]} not yet classified)" if kinds[None] else ""
    lines = [
        "# Scorecard",
        "",
        "Every claim checked in the book. A *reproduction* checks a figure or shape a paper reports",
        "(an exponent, a peak, a ratio); a *bound* checks a theorem's inequality against the",
        "measurement; a *sanity* check is an identity, a count or an agreement with a reference",
        "implementation, which cannot fail while the code runs as designed: those are listed apart",
        "and not counted as results. For each claim: the paper's own statement (or \"not stated\"",
        "where the paper gives no figure and the criterion is ours), our acceptance criterion, the",
        "figure measured when the chapter last ran and the verdict. A figure that depends on seeds is",
        "a statistic over them with its interval (in brackets, with how it was made); its verdict",
        "counts only when the whole interval lies on one side of the criterion. A criterion set or",
        "changed after a result had been seen is marked so. This page is generated by",
        "`python -m memopt.book scorecard` from the claim records stored in the executed notebooks;",
        "nbval re-runs the notebooks and fails if a stored figure no longer reproduces.",
        "",
        f"**{results[PASS] + results[NOT_REPRODUCED] + results[FAIL] + results[UNDECIDED]} results "
        f"({kinds[REPRODUCTION]} reproductions, {kinds[BOUND]} bounds){unclassified}: "
        f"{results[PASS]} pass, {results[NOT_REPRODUCED]} not reproduced, "
        f"{results[FAIL] + results[UNDECIDED]} fail; {post_hoc} with a criterion set after a run. "
        f"Besides them, {kinds[SANITY]} sanity checks.**",
        "",
        "| Chapter | Reproductions | Bounds | Pass | Not reproduced | Fail | Criterion set after a run | Sanity checks |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *overview,
        *sections,
    ]
    if reasons:
        lines += ["", "## Why some claims do not reproduce", "", *reasons]
    return "\n".join(lines) + "\n"


#: What prose numbers are not scanned in: math, code spans, citations, links and fenced blocks.
_NOT_PROSE = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|\{[a-z:]+\}`[^`]*`|`[^`]*`|\]\([^)]*\)|```.*?```", re.S)
_PROSE_NUMBER = re.compile(r"(?<![\w.^_\-/])(\d+(?:,\d{3})*(?:\.\d+)?)(?!\w)")
_TOKEN = re.compile(r"\d+(?:\.\d+)?")


def unproduced_prose_numbers(md: Path) -> list[str]:
    """Numbers in a chapter's prose that no cell of its stored notebook produces or sets.

    Every number a run produces must come from the run (printed, or glued), never typed. A
    prose number passes when it appears as a number in the code (a constant of the setup) or in
    the stored outputs, or in the chapter's ``prose_constants`` (front matter: figures quoted
    from a paper, dimensions of a data set). Numbers below 10 without a decimal point and years
    are not scanned: they count things ("two clusters") and date citations.
    """
    import nbformat  # noqa: PLC0415

    notebook = nbformat.read(Path(md).with_suffix(".ipynb"), as_version=4)
    produced = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        produced.append(cell.source)
        for output in cell.get("outputs", []):
            produced.append(output.get("text", ""))
            # text outputs only: an image's base64 holds runs of digits that are not numbers
            produced += [v for mime, v in output.get("data", {}).items()
                         if isinstance(v, str) and not mime.startswith("image/")]
    known = set(_TOKEN.findall("\n".join(produced).replace(",", "")))
    known |= {str(c) for c in notebook.metadata.get("prose_constants", [])}
    unexplained = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for number in _PROSE_NUMBER.findall(_NOT_PROSE.sub(" ", cell.source)):
            plain = number.replace(",", "")
            if "." not in plain and (float(plain) < 10 or 1900 <= float(plain) <= 2099):
                continue
            if plain not in known:
                unexplained.append(number)
    return unexplained


def seed_build_cache(book: Path = BOOK, cache_dir: Path = BUILD_CACHE) -> int:
    """Put the stored, nbval-checked notebooks into the book build's execution cache.

    jupyter-cache keys an entry by the notebook's code and kernel, so a chapter whose .ipynb
    matches its .md is then rendered from its stored outputs instead of being executed again.
    Returns how many notebooks were cached.
    """
    from jupyter_cache import get_cache  # noqa: PLC0415

    cache = get_cache(str(cache_dir))
    count = 0
    for md in notebook_sources(book):
        ipynb = md.with_suffix(".ipynb")
        if ipynb.exists() and code_cells(md) == code_cells(ipynb):
            cache.cache_notebook_file(str(ipynb), uri=str(md), check_validity=True, overwrite=True)
            count += 1
    return count


def write_scorecard(book: Path = BOOK, cache_dir: Path | None = None, check: bool = False) -> int:
    """Write ``scorecard.md`` (or, with ``check``, return 1 if it is out of date)."""
    text = scorecard_markdown(book, cache_dir)
    target = Path(book) / SCORECARD
    current = target.read_text() if target.exists() else None
    if check:
        if current != text:
            print(f"{target} is out of date: run python -m memopt.book scorecard", file=sys.stderr)
            return 1
    elif current != text:
        target.write_text(text)
        print(f"wrote {target}", file=sys.stderr)
    return 0


def compare_scorecard(book: Path = BOOK, cache_dir: Path = BUILD_CACHE) -> int:
    """Say whether the claims of the book build (its execution cache) agree with the committed
    scorecard, listing the rows that differ. Never writes: the committed scorecard changes only
    when the authors re-execute the chapters (``make notebooks``)."""
    fresh = scorecard_markdown(book, cache_dir).splitlines()
    committed = (Path(book) / SCORECARD).read_text().splitlines()
    differing = [line for line in fresh if line.startswith("|") and line not in committed]
    if not differing:
        print("The claims of this build agree with the committed scorecard.", file=sys.stderr)
        return 0
    print(f"{len(differing)} rows of this build's claims differ from {Path(book) / SCORECARD} "
          "(the site shows the committed one):", file=sys.stderr)
    for line in differing:
        print(f"  {line}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memopt.book", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("execute", help="execute chapters (.md) into their paired .ipynb")
    run.add_argument("sources", nargs="*", type=Path, help="chapter .md files (default: all)")
    text = commands.add_parser("sync", help="carry text-only .md edits into the .ipynb, keeping outputs")
    text.add_argument("sources", nargs="*", type=Path, help="chapter .md files (default: all)")
    card = commands.add_parser("scorecard", help="write book/scorecard.md from the stored outputs")
    card.add_argument("--check", action="store_true", help="fail if scorecard.md is out of date")
    card.add_argument("--from-cache", dest="cache_dir", nargs="?", type=Path, const=BUILD_CACHE,
                      help=f"read the outputs a book build rendered from its execution cache (default {BUILD_CACHE})")
    card.add_argument("--compare", action="store_true",
                      help="with --from-cache: report the rows that differ from scorecard.md, write nothing")
    commands.add_parser("check", help="verify pairing, execution and the scorecard")
    commands.add_parser("seed-cache", help="cache the stored notebooks for the book build")
    args = parser.parse_args(argv)

    if args.command == "execute":
        execute(args.sources or notebook_sources())
        return write_scorecard()
    if args.command == "sync":
        sync(args.sources or notebook_sources())
        return 0
    if args.command == "scorecard":
        if args.compare:
            if args.cache_dir is None:
                parser.error("--compare goes with --from-cache")
            return compare_scorecard(cache_dir=args.cache_dir)
        return write_scorecard(cache_dir=args.cache_dir, check=args.check)
    if args.command == "check":
        problems = pairing_problems()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else write_scorecard(check=True)
    print(f"cached {seed_build_cache()} stored notebooks in {BUILD_CACHE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
