"""Slice columns: the columns an evaluation reports metrics for per value.

prepare_dataset keeps the named columns in its splits (and refuses a source that lacks one);
evaluate_classifier reports per value of each. Both read their `slice_columns` setting with
`column_names`; `TEXT_LENGTH_SLICE` is derived from the text and needs no column.
"""

# A derived slice: the test text's length in words, bucketed.
TEXT_LENGTH_SLICE = "text_length"
# Word-count buckets of the derived slice: (upper bound inclusive, name); longer is LONGEST.
LENGTH_BUCKETS = ((3, "1-3 words"), (10, "4-10 words"), (30, "11-30 words"))
LONGEST = "31+ words"


def column_names(spec: str) -> list[str]:
    """`a, b,c` -> ["a", "b", "c"]."""
    return [name.strip() for name in spec.split(",") if name.strip()]


def length_bucket(words: int) -> str:
    """The text_length slice value of a text with `words` words."""
    return next((name for bound, name in LENGTH_BUCKETS if words <= bound), LONGEST)
