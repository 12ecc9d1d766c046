"""How to cite the book: CITATION.cff and the page book/cite.md agree with each other and the project.

CITATION.cff is checked against the Citation File Format 1.2.0 schema (the copy beside this test
is the one `cffconvert` 2.0.0 ships, which cannot be installed beside jupyter-book: it needs
jsonschema < 4), and against pyproject.toml (version, license, authors) and _config.yml (title).
The page's BibTeX is parsed with pybtex and compared with CITATION.cff, and every key the page
cites must be in book/references.bib and cited by the chapter it is listed for.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from pybtex.database import parse_file, parse_string

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
CFF = ROOT / "CITATION.cff"
SCHEMA = Path(__file__).with_name("citation_file_format_1.2.0.schema.json")
PAGE = ROOT / "book" / "cite.md"
BIBLIOGRAPHY = ROOT / "book" / "references.bib"
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
TABLE_ROW = re.compile(r"^\|\s*\[[^\]]+\]\(([^)]+\.md)\)\s*\|(.*)\|\s*$")


def citation() -> dict:
    # PyYAML reads an unquoted date as a date; the CFF schema (and cffconvert) want its text.
    data = yaml.safe_load(CFF.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=str))


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def page_bibtex() -> str:
    blocks = re.findall(r"^```bibtex\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, f"{PAGE.name} should hold one ```bibtex block, found {len(blocks)}"
    return blocks[0]


def cited_keys(text: str) -> set[str]:
    return {key.strip() for keys in CITE_ROLE.findall(text) for key in keys.split(",")}


def test_citation_file_is_valid_cff_1_2_0():
    data = citation()
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert data["cff-version"] == "1.2.0"
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in validator.iter_errors(data)]
    assert not errors, "CITATION.cff does not follow CFF 1.2.0:\n" + "\n".join(errors)


def test_schema_rejects_a_broken_citation():
    """The schema copy is the real one: it refuses what CFF refuses."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = citation()
    del broken["authors"]
    broken["date-released"] = "30 November 2026"
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken)]
    assert any("authors" in m for m in messages)
    assert any("30 November 2026" in m for m in messages)


def test_citation_file_matches_the_project():
    data, project = citation(), pyproject()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert data["version"] == project["version"]
    assert data["license"] == project["license"]
    assert data["title"] == config["title"]
    assert data["authors"] == [{"name": author["name"]} for author in project["authors"]]
    released = datetime.date.fromisoformat(data["date-released"])
    assert str(released.year) == str(config["copyright"])


def test_page_bibtex_is_the_citation_file():
    data = citation()
    released = datetime.date.fromisoformat(data["date-released"])
    entries = parse_string(page_bibtex(), "bibtex").entries
    assert len(entries) == 1
    (entry,) = entries.values()
    # The author is an entity: double braces keep BibTeX from reading it as "authors, The memopt".
    (author,) = entry.persons["author"]
    assert str(author) == "{" + data["authors"][0]["name"] + "}"
    assert entry.fields["title"] == data["title"]
    assert entry.fields["year"] == str(released.year)
    assert entry.fields["month"] == str(released.month)
    assert f"Version {data['version']}" in entry.fields["note"]
    assert data["license"] in entry.fields["note"]


def test_page_plain_citation_is_the_citation_file():
    data = citation()
    year = data["date-released"][:4]
    expected = f"{data['authors'][0]['name']} ({year}). *{data['title']}* (version {data['version']})."
    assert expected in PAGE.read_text(encoding="utf-8")


def test_page_cites_only_keys_of_the_bibliography():
    known = set(parse_file(str(BIBLIOGRAPHY), "bibtex").entries)
    cited = cited_keys(PAGE.read_text(encoding="utf-8"))
    assert cited, "the page cites no paper"
    assert not cited - known, f"keys cited on {PAGE.name} but missing from references.bib: {sorted(cited - known)}"


def table_rows() -> dict[Path, set[str]]:
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        match = TABLE_ROW.match(line)
        if match:
            rows[(PAGE.parent / match[1]).resolve()] = cited_keys(match[2])
    return rows


def test_each_listed_paper_is_cited_by_its_chapter():
    rows = table_rows()
    assert rows, "the page's table of chapters and papers was not found"
    for chapter, keys in rows.items():
        assert chapter.is_file(), f"{PAGE.name} links to a missing chapter {chapter}"
        assert keys, f"{PAGE.name} lists no paper for {chapter.name}"
        missing = keys - cited_keys(chapter.read_text(encoding="utf-8"))
        assert not missing, f"{PAGE.name} lists {sorted(missing)} for {chapter.name}, which does not cite them"


def toc_files(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["file"]] if "file" in node else []
        return found + [f for value in node.values() for f in toc_files(value)]
    if isinstance(node, list):
        return [f for item in node for f in toc_files(item)]
    return []


def test_every_chapter_that_checks_claims_names_its_papers():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    rows = table_rows()
    for name in toc_files(toc):
        chapter = (ROOT / f"{name}.md").resolve()
        if chapter.is_file() and "claims.check(" in chapter.read_text(encoding="utf-8"):
            assert chapter in rows, f"add a row for {name}.md to the table of {PAGE.relative_to(ROOT)}"


@pytest.mark.parametrize("text, keys", [
    ("{cite:p}`a` and {cite:t}`b, c` {cite}`d`", {"a", "b", "c", "d"}),
    ("no citation `here`", set()),
])
def test_cited_keys(text, keys):
    assert cited_keys(text) == keys
