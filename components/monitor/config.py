"""Settings of `monitor_classifier`: the one home of their defaults."""

from dataclasses import dataclass, field

from components.common.config import require


@dataclass
class MonitorConfig:
    """What the monitor compares and how sure it must be before it raises an alert."""

    text_column: str = field(default="text", metadata={"help": "column holding the texts"})
    label_column: str = field(
        default="label",
        metadata={"help": "column with true labels; where the window has it, real metrics too"},
    )
    window_hours: float = field(
        default=0.0,
        metadata={"help": "for a payload-log prefix: the last N hours before window_end; 0: all"},
    )
    window_end: str = field(
        default="",
        metadata={"help": "end of the window (ISO 8601, UTC when no zone); empty: now"},
    )
    significance: float = field(
        default=0.05,
        metadata={"help": "false-alarm rate of the combined decision (Bonferroni over tests)"},
    )
    min_window_size: int = field(
        default=100, metadata={"help": "fewer texts in the window: no decision, no alert"}
    )
    max_f1_drop: float = field(
        default=0.05,
        metadata={
            "help": "alert when the estimated macro-F1 is surely (interval) this far below "
            "the reference's"
        },
    )
    max_texts: int = field(
        default=1000,
        metadata={"help": "most texts of each side embedded (a random sample beyond it)"},
    )
    permutations: int = field(
        default=500, metadata={"help": "permutations of the MMD embedding test"}
    )
    max_length: int = field(default=128, metadata={"help": "tokens kept per text"})
    batch_size: int = field(default=64, metadata={"help": "texts per forward pass"})
    seed: int = field(default=0, metadata={"help": "seed of sampling and permutations"})

    def __post_init__(self) -> None:
        require(bool(self.text_column), "text_column is empty; name the column holding the texts")
        require(
            0 < self.significance < 1,
            f"significance {self.significance} is not a probability; use e.g. 0.05",
        )
        require(self.min_window_size > 0, "min_window_size must be positive")
        require(self.window_hours >= 0, "window_hours must be 0 (all) or positive")
        require(0 <= self.max_f1_drop <= 1, "max_f1_drop must be a fraction from 0 to 1")
        for name in ("max_texts", "permutations", "max_length", "batch_size"):
            require(getattr(self, name) > 0, f"{name} must be positive")
