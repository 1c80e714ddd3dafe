"""True words: every Markdown file (and section anchor) that the code and the docs cite
exists — ``docs/cli.md#case-files`` names a file of this repository and a heading in it, and
``README "Section"`` a heading of the README. A citation of a file that is not here (an old
design note) fails."""

import re
import subprocess
from pathlib import Path

import pytest
from support.paths import ROOT

CITED = re.compile(r"(?<![\w/.:'\"-])((?:\.\./|[\w-]+/)*[\w.-]+\.md)(#[\w-]+)?")
README_SECTION = re.compile(r'README "([^"]+)"')
TEXT = (".py", ".md", ".toml", ".ini", ".txt", ".cfg", "")


def tracked() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    paths = [ROOT / n for n in names.split()]
    return [p for p in paths if p.suffix in TEXT and p.is_file() and not p.is_symlink()]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but '-' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {slug(line.lstrip("#")) for line in lines if re.match(r"#{1,6} ", line)}


def citations():
    for path in tracked():
        if path == Path(__file__):  # its own examples and patterns
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(ROOT)
        for m in CITED.finditer(text):
            yield pytest.param(path, m.group(1), m.group(2), id=f"{where}->{m.group(0)}")
        for m in README_SECTION.finditer(text):
            yield pytest.param(path, "README.md", "#" + slug(m.group(1)), id=f"{where}->README")


@pytest.mark.parametrize(("source", "target", "anchor"), list(citations()))
def test_a_cited_file_and_section_exist(source, target, anchor):
    found = [p for p in (source.parent / target, ROOT / target) if p.is_file()]
    assert found, f"{source.relative_to(ROOT)} cites {target}, which is not in the repository"
    if anchor:
        assert anchor[1:] in anchors(found[0]), f"{target} has no heading {anchor}"


MODULE = re.compile(
    r"(?<![\w/.-])((?:reference|backends|comparisons|tests|scripts|examples)/[\w/.-]*\w)"
)


def test_every_module_path_the_code_and_the_docs_name_exists():
    """Issue #34: a docstring or a page that names ``reference/stack.py`` or
    ``backends/torch/layers.py`` names a file (or folder) that is there — moved code leaves no
    stale pointer behind."""
    missing = set()
    for path in tracked():
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in MODULE.finditer(text):
            name = m.group(1).rstrip(".")
            pattern = text[m.end() : m.end() + 1] == "*" or re.search(r"\b[A-Z]{3,}\b", name)
            if not pattern and not (ROOT / name).exists():  # a glob or NAME.toml: a pattern
                missing.add(f"{path.relative_to(ROOT)}: {name}")
    assert sorted(missing) == []
