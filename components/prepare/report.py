"""The data report: a Markdown page a person reads in the KFP UI after prepare_dataset ran."""

from components.prepare.config import SPLITS, PrepareConfig
from components.prepare.result import PrepareResult

_WHY = {
    "empty_text": "text empty after trimming whitespace",
    "too_short": "text shorter than min_text_length",
    "unlabeled": "no label (dropped because drop_unlabeled is on)",
    "label_not_allowed": "label not in allowed_labels",
    "duplicate": "same text as an earlier row (after Unicode and whitespace normalisation)",
    "rare_label": "label (multi-label: one of the row's) has fewer rows than min_label_count",
    "near_duplicate_across_splits": (
        "validation/test text that matches an earlier split's text ignoring case, "
        "punctuation and spaces (would leak)"
    ),
}


def _bar(value: int, total: int, width: int = 24) -> str:
    filled = round(width * value / total) if total else 0
    return "█" * filled + "·" * (width - filled)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _label_set_lines(labels_per_row: dict[int, int], kept: int) -> list[str]:
    """Multi-label: how many labels the kept rows carry (the class balance counts each one)."""
    carried = sum(size * rows for size, rows in labels_per_row.items())
    lines = [
        "",
        "## Label sets",
        "",
        f"Multi-label: a row carries one or more labels, {carried / max(kept, 1):.2f} on "
        "average; the class balance above counts a row once for each of its labels.",
        "",
        "| labels per row | rows | |",
        "|---:|---:|---|",
    ]
    for size, rows in labels_per_row.items():
        lines.append(f"| {size} | {rows:,} | `{_bar(rows, kept)}` |")
    return lines


def render_report(result: PrepareResult, config: PrepareConfig) -> str:
    """Markdown: splits, class balance, text lengths, and what was dropped and why."""
    kept = sum(facts["rows"] for facts in result.splits.values())
    split_how = (
        f"by time on `{config.time_column}` (oldest rows train, newest test)"
        if config.time_column
        else f"by group on `{config.group_column}`, stratified by majority label"
        if config.group_column
        else "at random, stratified by label"
    )
    if result.multi_label:
        split_how = split_how.replace(
            "by majority label", "by the majority of its rows' rarest labels"
        ).replace("stratified by label", "stratified by each row's rarest label")
    lines = [
        "# Data report",
        "",
        f"Source `{_cell(result.source_uri)}`: **{result.rows_read:,}** rows read, "
        f"**{kept:,}** kept ({kept / max(result.rows_read, 1):.1%}), "
        f"{len(result.labels)} labels{', multi-label' if result.multi_label else ''}, "
        f"split {split_how} with seed {config.seed}.",
        "",
        "## Splits",
        "",
        "| split | rows | share | content hash |",
        "|---|---:|---:|---|",
    ]
    for name in SPLITS:
        facts = result.splits[name]
        share = facts["rows"] / max(kept, 1)
        lines.append(
            f"| {name} | {facts['rows']:,} | {share:.1%} | `{facts['content_hash'][:12]}` |"
        )
    lines += ["", "## Class balance", "", "| label | train | validation | test | all | |"]
    lines.append("|---|---:|---:|---:|---:|---|")
    for label in result.labels:
        counts = [result.splits[name]["label_counts"][label] for name in SPLITS]
        total = sum(counts)
        cells = " | ".join(f"{c:,}" for c in counts)
        lines.append(f"| {_cell(label)} | {cells} | {total:,} | `{_bar(total, kept)}` |")
    if result.multi_label:
        lines += _label_set_lines(result.labels_per_row, kept)
    lines += ["", "## Text length (characters, kept rows)", ""]
    if result.length_percentiles:
        lines.append(" · ".join(f"{k} {v}" for k, v in result.length_percentiles.items()))
        lines += ["", "| length | rows | |", "|---|---:|---|"]
        for bucket, count in result.length_histogram:
            lines.append(f"| {bucket} | {count:,} | `{_bar(count, kept)}` |")
    lines += ["", "## Dropped rows", "", "| reason | rows | why |", "|---|---:|---|"]
    for reason, count in result.dropped.items():
        lines.append(f"| {reason} | {count:,} | {_WHY.get(reason, '')} |")
    leaks = result.dropped.get("near_duplicate_across_splits", 0)
    lines += [
        "",
        "## Checks",
        "",
        f"- Leakage: no text appears in two splits; {leaks:,} near-duplicates were removed "
        "from validation/test.",
        f"- Duplicate texts carrying different labels: {result.conflicting_duplicates:,} "
        "(the first row's label was kept; many of these point at labelling noise).",
        "",
    ]
    return "\n".join(lines)
