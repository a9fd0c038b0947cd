"""The realistic benchmark table, built from a small .deb laid out like Debian's fortunes."""

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.realistic_data import FORTUNES_DIR, TOPICS, realistic_table
from components.common.errors import KfpNlpError

pytestmark = [
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
]

LONG = "word " * 70


def _deb(tmp_path: Path) -> Path:
    """A fortunes .deb with a few entries per topic file and a catch-all that must be ignored."""
    root = tmp_path / "pkg"
    files = root / FORTUNES_DIR
    files.mkdir(parents=True)
    for topic in TOPICS:
        (files / topic).write_text(f"A {topic} joke,\n\tsplit over lines.\n%\nShared text.\n%\n")
    (files / "food").write_text("Eat\n  your   greens.\n\t\t-- Mother\n%\n" + LONG + "\n%\n")
    (files / "miscellaneous").write_text("Not a topic.\n%\n")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: fortunes\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test\n"
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    deb = cache / "fortunes_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], check=True, capture_output=True)
    return cache


def test_the_table_holds_the_short_unique_texts_of_the_topic_files(tmp_path: Path) -> None:
    cache = _deb(tmp_path)
    output = tmp_path / "out" / "fortunes.csv"
    realistic_table(cache, output)
    table = pd.read_csv(output)
    assert list(table.columns) == ["text", "label"]
    food = table[table["label"] == "food"]["text"].tolist()
    # Whitespace collapsed, the attribution kept; the text over 300 characters dropped.
    assert food == ["Eat your greens. -- Mother"]
    assert "A work joke, split over lines." in table["text"].tolist()
    # A text filed under several topics has no single answer; catch-alls are not read.
    assert "Shared text." not in table["text"].tolist()
    assert "Not a topic." not in table["text"].tolist()
    assert set(table["label"]) == set(TOPICS)
    assert len(table) == len(TOPICS)
    # The same package gives the same file.
    again = tmp_path / "again.csv"
    realistic_table(cache, again)
    assert again.read_bytes() == output.read_bytes()


def test_a_machine_without_the_package_and_apt_gets_one_line_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get to run
    with pytest.raises(KfpNlpError, match=r"apt-get download fortunes.*fortunes_\*\.deb"):
        realistic_table(tmp_path / "cache", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
