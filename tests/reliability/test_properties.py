"""Properties of text normalisation and splitting, checked on inputs hypothesis generates.

Normalisation is idempotent and leaves no edge or repeated whitespace. The split never puts
near-duplicates ('STOP', 'stop!') on both sides of a boundary, and does not depend on the order
of the source rows: the same rows in any order give every text the same split (or the same
refusal).
"""

import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from components.common.errors import KfpNlpError
from components.prepare.config import SPLITS, PrepareConfig
from components.prepare.prepare import prepare_dataset
from components.prepare.result import PrepareOutputs
from components.prepare.scan import _leak_key, _normalise_text

pytestmark = pytest.mark.unit

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def normalise(texts: list[str]) -> list[str]:
    return _normalise_text(pa.RecordBatch.from_pydict({"t": texts}), ["t"]).to_pylist()


@SETTINGS
@given(st.lists(st.text(max_size=40), min_size=1, max_size=20))
def test_normalisation_is_idempotent_and_tidy(texts: list[str]) -> None:
    once = normalise(texts)
    assert normalise(once) == once
    for text in once:
        assert text == text.strip(" \t\n\r\f\v")
        assert "  " not in text and not set("\t\n\r\f\v") & set(text)


# Already normalised texts: letters that fold together under case and punctuation, so the
# generator makes near-duplicates often.
_TEXT = st.text(alphabet="abAB!? é", min_size=1, max_size=6).map(lambda t: " ".join(t.split()))
_ROWS = st.lists(
    st.tuples(_TEXT.filter(bool), st.sampled_from(["complaint", "positive", "other"])),
    min_size=12,
    max_size=60,
    unique_by=lambda row: row[0],
)


def split_of_each_text(rows: list[tuple[str, str]], folder: Path) -> dict[str, str] | str:
    """Run prepare_dataset on `rows`; map each text to its split, or return the refusal."""
    folder.mkdir()
    source = folder / "rows.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(source, index=False)
    outputs = PrepareOutputs(*(str(folder / f"{n}.parquet") for n in SPLITS), str(folder / "r"))
    try:
        prepare_dataset(str(source), outputs, PrepareConfig(min_label_count=1))
    except KfpNlpError as exc:
        return str(exc).replace(str(folder), "<folder>")
    return {
        text: name
        for name in SPLITS
        for text in pq.read_table(folder / f"{name}.parquet").column("text").to_pylist()
    }


@SETTINGS
@given(rows=_ROWS, seed=st.integers(0, 2**16))
def test_split_has_no_leaks_and_ignores_row_order(rows, seed, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("split")
    first = split_of_each_text(rows, folder / "a")
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    assert split_of_each_text(shuffled, folder / "b") == first
    # A refusal (too few texts of a label to stratify) has no split to check for leaks: such an
    # example is not counted, so every counted one checks the split itself.
    assume(not isinstance(first, str))
    keys = {name: set() for name in SPLITS}
    for text, name in first.items():
        keys[name].add(_leak_key(pa.array([text])).to_pylist()[0])
    assert not keys["train"] & keys["validation"]
    assert not (keys["train"] | keys["validation"]) & keys["test"]
