"""What the README and docs/ say about the repository is true of it.

- The README's Layout names only paths that exist, and every folder of components/, pipelines/
  and tests/.
- Every relative link of the README and docs/*.md reaches a file, and a `#section` in it a
  heading of that file (as GitHub makes anchors of headings).
- Every error line the troubleshooting table quotes is one the code can print.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
# The exit-code page is written together with the exit codes themselves; linked before it lands.
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def section(text: str, title: str) -> str:
    """The body of the `## title` section of a Markdown text."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match[1]


def layout_paths() -> list[str]:
    """The path each line of the Layout block starts with."""
    (block,) = re.findall(r"^```\n(.*?)^```", section(README.read_text(), "Layout"), re.M | re.S)
    return [line.split()[0] for line in block.splitlines() if line and not line[0].isspace()]


def folders(parent: str) -> set[str]:
    return {
        f"{parent}/{p.name}/"
        for p in (REPO / parent).iterdir()
        if p.is_dir() and not p.name.startswith((".", "__"))
    }


def test_the_layout_names_only_paths_that_exist():
    missing = [path for path in layout_paths() if not (REPO / path).exists()]
    assert missing == []


@pytest.mark.parametrize("parent", ["components", "pipelines", "tests"])
def test_the_layout_names_every_folder(parent: str):
    assert folders(parent) - set(layout_paths()) == set()


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def links() -> list[tuple[Path, str]]:
    return [
        (page, target)
        for page in PAGES
        for target in LINK.findall(FENCE.sub("", page.read_text()))
        if "://" not in target
    ]


def test_links_reach_a_file_and_a_heading():
    broken = []
    for page, target in links():
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_the_link_check_finds_a_broken_link():
    assert anchor("## IRSA: S3 access without keys".lstrip("# ")) == "irsa-s3-access-without-keys"
    assert anchor("The `kfp-nlp` command") == "the-kfp-nlp-command"
    assert "whole-runs" in anchors(REPO / "docs" / "benchmarks.md")
    assert "no-such-heading" not in anchors(REPO / "docs" / "benchmarks.md")


def sources() -> str:
    files = [*REPO.glob("components/**/*.py"), *REPO.glob("pipelines/*.py")]
    return "\n".join(p.read_text() for p in [*files, REPO / "scripts" / "build-image.sh"])


def test_every_error_the_troubleshooting_table_quotes_is_one_the_code_prints():
    text = (REPO / "docs" / "troubleshooting.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    quoted = [q for row in rows for q in re.findall(r"`([^`]+)`", row.split(" | ")[0])]
    assert len(rows) >= 20
    code = sources()
    assert [q for q in quoted if q not in code] == []
