"""Settings of prepare_dataset: the one home of their defaults."""

from dataclasses import dataclass, field

from components.common.config import require
from components.common.slices import TEXT_LENGTH_SLICE, column_names
from components.common.tables import FORMATS

SPLITS = ("train", "validation", "test")


@dataclass
class PrepareConfig:
    """How to turn a raw text table into clean train/validation/test splits."""

    text_columns: list[str] = field(
        default_factory=lambda: ["text"],
        metadata={"help": "column(s) holding the text; several are joined with a space"},
    )
    label_column: str = field(default="label", metadata={"help": "column holding the label"})
    label_delimiter: str = field(
        default="",
        metadata={
            "help": (
                'multi-label: the separator of the labels in one label cell, e.g. "|" '
                "(empty: single-label, unless the label column holds lists, as Parquet "
                "and JSON Lines can)"
            )
        },
    )
    group_column: str = field(
        default="",
        metadata={"help": "rows sharing a value here (e.g. a customer id) stay in one split"},
    )
    time_column: str = field(
        default="",
        metadata={"help": "split by time instead of at random: oldest rows train, newest test"},
    )
    keep_columns: list[str] = field(
        default_factory=list,
        metadata={"help": "source columns to carry into the splits (ids, slice columns)"},
    )
    format: str = field(
        default="auto", metadata={"help": f"source format: auto or one of {', '.join(FORMATS)}"}
    )
    delimiter: str = field(
        default="",
        metadata={"help": "field separator of a CSV/TSV source, e.g. ';' (empty: ',' or tab)"},
    )
    slice_columns: str = field(
        default="",
        metadata={
            "help": (
                "comma-separated columns the evaluation slices by: the step fails at "
                "once if the table lacks one, and keeps them in the splits (text_length"
                " is derived)"
            )
        },
    )
    train_fraction: float = field(default=0.8, metadata={"help": "share of rows for training"})
    validation_fraction: float = field(
        default=0.1, metadata={"help": "share of rows for validation"}
    )
    test_fraction: float = field(default=0.1, metadata={"help": "share of rows for the test"})
    seed: int = field(default=42, metadata={"help": "seed of the random split"})
    min_text_length: int = field(
        default=1, metadata={"help": "texts shorter than this many characters are dropped"}
    )
    max_rows: int = field(default=0, metadata={"help": "read at most this many rows (0 reads all)"})
    allowed_labels: list[str] = field(
        default_factory=list,
        metadata={"help": "keep only these labels, dropping other rows (empty: all labels)"},
    )
    min_label_count: int = field(
        default=10,
        metadata={
            "help": "labels with fewer rows are handled by rare_labels (multi-label: the rows "
            "carrying such a label)"
        },
    )
    rare_labels: str = field(
        default="drop", metadata={"help": ('"drop" or "fail" for labels below min_label_count')}
    )
    drop_unlabeled: bool = field(
        default=False, metadata={"help": "drop rows without a label instead of failing"}
    )

    def __post_init__(self) -> None:
        fractions = (self.train_fraction, self.validation_fraction, self.test_fraction)
        require(
            all(0 <= f <= 1 for f in fractions) and self.train_fraction > 0,
            f"split fractions {fractions} must lie in [0, 1] with a positive train fraction",
        )
        require(
            abs(sum(fractions) - 1) < 1e-6,
            f"split fractions train={self.train_fraction}, validation="
            f"{self.validation_fraction}, test={self.test_fraction} sum to {sum(fractions):g}; "
            "make them sum to 1",
        )
        require(
            bool(self.text_columns),
            "text_columns is empty; name the column with the text (text_column in the "
            "text-classifier-training pipeline)",
        )
        require(
            all(name.strip() for name in self.text_columns),
            f"text_columns {self.text_columns} holds an empty column name; name the column(s) "
            "with the text, e.g. --text-columns reply_text (text_column=reply_text in the "
            "text-classifier-training pipeline)",
        )
        require(self.seed >= 0, f"seed {self.seed} is negative; pass 0 or a positive integer")
        require(bool(self.label_column), "label_column is empty; name the column with the label")
        require(
            not (self.group_column and self.time_column),
            "give either group_column or time_column, not both",
        )
        require(self.rare_labels in ("drop", "fail"), "rare_labels must be 'drop' or 'fail'")
        require(self.min_text_length >= 1, "min_text_length must be at least 1")
        require(self.min_label_count >= 1, "min_label_count must be at least 1")
        require(self.max_rows >= 0, "max_rows must be 0 (all rows) or positive")
        require(
            self.format in ("auto", *FORMATS),
            f"format {self.format!r} is unknown; use auto or one of {', '.join(FORMATS)}",
        )
        require(
            len(self.delimiter) <= 1,
            f"delimiter {self.delimiter!r} is not one character; give e.g. ';' or '|'",
        )

        require(
            self.label_delimiter == self.label_delimiter.strip(),
            f"label_delimiter {self.label_delimiter!r} is blank or has spaces around it; give "
            "the separator alone, e.g. '|' (labels are trimmed after splitting)",
        )

    @property
    def fractions(self) -> dict[str, float]:
        return dict(
            zip(
                SPLITS,
                (self.train_fraction, self.validation_fraction, self.test_fraction),
                strict=True,
            )
        )

    @property
    def slice_list(self) -> list[str]:
        """The slice columns read from the source (the derived text_length is not)."""
        return [c for c in column_names(self.slice_columns) if c != TEXT_LENGTH_SLICE]

    def source_columns(self) -> list[str]:
        """Every source column this configuration reads, in a stable order."""
        extra = [self.group_column, self.time_column, *self.keep_columns, *self.slice_list]
        wanted = [*self.text_columns, self.label_column, *extra]
        return list(dict.fromkeys(c for c in wanted if c))
