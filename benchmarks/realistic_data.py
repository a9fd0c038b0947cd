"""A realistic evaluation table: real human-written short English texts in 15 topic classes.

    python -m benchmarks.realistic_data [--cache ~/.cache/kfp-nlp/realistic] \
        [--output local_outputs/realistic/fortunes.csv]

The sample data (components.sample_data) is generated from templates and is too easy to choose
training defaults on. This table is built from Debian's `fortunes` package: about 12,000
fortune-cookie texts that people wrote and collected over decades, filed in topic files
(entries separated by lines holding `%`). The .deb is fetched once with `apt-get download`
(no root needed) into the cache folder and read from there afterwards; only that first call
needs the network.

Classes: the 15 files whose name is a subject a text can be about. Left out, and why:

- catch-alls with no topic: miscellaneous, cookie, wisdom, platitudes, linuxcookie;
- collections defined by a person or a voice, not a subject: zippy (Zippy the Pinhead's
  lines), perl (Larry Wall's, nearly all signed with his name), humorists, knghtbrd, pratchett,
  goedel;
- collections defined by a form, not a subject, which a model would learn from layout alone:
  definitions (dictionary-style entries on any subject), songs-poems, disclaimer, art (mostly
  TV-listing parodies), ascii-art, paradoxum, tao, translate-me;
- ethnic, jokes built on national stereotypes;
- topics with fewer than 100 short texts: debian, medicine, magic, news, pets.

Each text has its whitespace collapsed (line breaks and the attribution's indentation become
single spaces); texts longer than 300 characters are dropped (the task is short texts), as are
texts that occur more than once. The classes stay as imbalanced as the source (people: about
1,200 texts, sports: about 100). The output is a CSV with columns `text` and `label`, sorted by
label and text, so the same package version always gives the same file; the package version
and its SHA-256 are printed.
"""

import argparse
import hashlib
import re
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from components.common.errors import KfpNlpError

PACKAGE = "fortunes"
TOPICS = (
    "computers",
    "drugs",
    "education",
    "food",
    "kids",
    "law",
    "linux",
    "love",
    "men-women",
    "people",
    "politics",
    "science",
    "sports",
    "startrek",
    "work",
)
MAX_CHARS = 300
FORTUNES_DIR = Path("usr/share/games/fortunes")


def fetch_package(cache: Path) -> Path:
    """The cached .deb, downloaded with `apt-get download` on first use."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{PACKAGE}_*.deb"))
    if found:
        return found[-1]
    try:
        done = subprocess.run(
            ["apt-get", "download", PACKAGE],
            cwd=cache,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KfpNlpError(
            f"could not run `apt-get download {PACKAGE}` ({exc}); this needs Debian's apt and the "
            f"network once, or put a {PACKAGE}_*.deb into {cache}"
        ) from exc
    found = sorted(cache.glob(f"{PACKAGE}_*.deb"))
    if done.returncode != 0 or not found:
        reason = (done.stderr.strip().splitlines() or ["no .deb was written"])[-1]
        raise KfpNlpError(
            f"`apt-get download {PACKAGE}` could not reach Debian's archive ({reason}); run "
            f"`apt-get update` or put a {PACKAGE}_*.deb into {cache}"
        )
    return found[-1]


def parse_entries(text: str) -> list[str]:
    """The entries of one fortune file, whitespace collapsed, empty ones dropped."""
    entries = (re.sub(r"\s+", " ", entry).strip() for entry in re.split(r"^%$", text, flags=re.M))
    return [entry for entry in entries if entry]


def build_table(deb: Path) -> pd.DataFrame:
    """The `text`/`label` table of the short, unique texts of the topic files in `deb`."""
    with tempfile.TemporaryDirectory(prefix="fortunes-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        rows = [
            (entry, topic)
            for topic in TOPICS
            for entry in parse_entries(
                (Path(tmp) / FORTUNES_DIR / topic).read_text(encoding="utf-8", errors="replace")
            )
            if len(entry) <= MAX_CHARS
        ]
    table = pd.DataFrame(rows, columns=["text", "label"])
    # A text filed under two topics has no single right answer: drop every copy.
    table = table[~table.duplicated("text", keep=False)]
    return table.sort_values(["label", "text"], ignore_index=True)


def realistic_table(cache: Path, output: Path) -> pd.DataFrame:
    """Build the table (fetching the package on first use) and write it to `output` as CSV."""
    deb = fetch_package(cache)
    table = build_table(deb)
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    print(f"{deb.name} (sha256 {digest[:16]}...): {len(table)} texts in {output}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/kfp-nlp/realistic")
    parser.add_argument("--output", type=Path, default=Path("local_outputs/realistic/fortunes.csv"))
    args = parser.parse_args()
    try:
        table = realistic_table(args.cache, args.output)
    except KfpNlpError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(table["label"].value_counts().to_string())


if __name__ == "__main__":
    main()
