"""The split plan of prepare_dataset: pass 1's keys turned into one split per spooled row.

Duplicate texts are dropped (the first row kept), rare labels dropped or refused, and the rows
assigned to train, validation and test: stratified by label over near-duplicate sets, by
group, or by time. Validation and test rows whose near-duplicate sits in an earlier split are
then removed, so nothing leaks between splits.
"""

from collections import Counter
from typing import Any

import numpy as np

from components.common.artifacts import LABEL, TEXT
from components.common.errors import KfpNlpError
from components.common.splits import label_matrix
from components.prepare.config import SPLITS, PrepareConfig
from components.prepare.scan import SET_KEY, Keys, Scan

DROPPED, TRAIN, VALIDATION, TEST = -1, 0, 1, 2


def _deduplicate(text_hash: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, int]:
    """Keep the first row of each text; also count texts whose copies disagree on the label."""
    order = np.argsort(text_hash, kind="stable")
    ordered = text_hash[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    keep = np.zeros(len(order), dtype=bool)
    keep[order[starts]] = True
    run = np.cumsum(starts) - 1
    first_label = label[order][starts][run]
    conflicts = len(np.unique(run[label[order] != first_label]))
    return keep, conflicts


def _split_sizes(n: int, fractions: list[float]) -> list[int]:
    """Units per split for `n` units: every split with a positive fraction gets at least one."""
    sizes = [max(1, round(n * f)) if f > 0 else 0 for f in fractions[1:]]
    return [n - sum(sizes), *sizes]


def _units(keys: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sharing a key form a unit: (unit of each row, majority label, rows per unit)."""
    _, inverse = np.unique(keys, return_inverse=True)
    sizes = np.bincount(inverse)
    n_labels = int(label.max()) + 1
    pairs, counts = np.unique(inverse.astype(np.int64) * n_labels + label, return_counts=True)
    pair_unit, pair_label = pairs // n_labels, pairs % n_labels
    order = np.lexsort((-counts, pair_unit))
    first = np.unique(pair_unit[order], return_index=True)[1]
    majority = np.zeros(len(sizes), dtype=np.int64)
    majority[pair_unit[order][first]] = pair_label[order][first]
    return inverse, majority, sizes


def _stratified(unit_label: np.ndarray, fractions: list[float], rng) -> np.ndarray:
    """Exact shares of units per label; every label reaches every split with a positive share.

    A stratum with fewer units than splits (possible only for multi-label data, whose strata
    are each row's rarest label) goes to train whole.
    """
    split = np.zeros(len(unit_label), dtype=np.int8)
    needed = sum(1 for f in fractions if f > 0)
    for code in np.unique(unit_label):
        members = rng.permutation(np.flatnonzero(unit_label == code))
        if len(members) < needed:
            continue
        edges = np.cumsum(_split_sizes(len(members), fractions))[:-1]
        for index, part in enumerate(np.split(members, edges)):
            split[part] = index
    return split


def _balanced(unit_label: np.ndarray, unit_size: np.ndarray, fractions: list[float], rng):
    """Whole units (e.g. customers) to splits so each label's rows approach the fractions."""
    split = np.zeros(len(unit_label), dtype=np.int8)
    edges = np.cumsum(fractions)[:-1]
    for code in np.unique(unit_label):
        members = rng.permutation(np.flatnonzero(unit_label == code))
        filled = np.cumsum(unit_size[members])
        middle = (filled - unit_size[members] / 2) / filled[-1]
        split[members] = np.searchsorted(edges, middle, side="right")
    return split


def _every_label_in_train(split: np.ndarray, unit: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Multi-label: move the first unit carrying a label no train row has into train, so the
    model learns every label (stratifying on the rarest label mostly does this already)."""
    for label in range(member.shape[1]):
        if member[:, label].any() and not member[split == TRAIN, label].any():
            first = unit[np.flatnonzero(member[:, label])[0]]
            split[unit == first] = TRAIN
    return split


def _by_time(time: np.ndarray, fractions: list[float]) -> np.ndarray:
    order = np.argsort(time, kind="stable")
    assignment = np.empty(len(time), dtype=np.int8)
    edges = np.cumsum(_split_sizes(len(time), fractions))[:-1]
    for split, part in enumerate(np.split(order, edges)):
        assignment[part] = split
    return assignment


def _drop_leaks(assignment: np.ndarray, leak_hash: np.ndarray) -> int:
    """Remove validation/test rows whose near-duplicate sits in an earlier split."""
    removed = 0
    for split in (VALIDATION, TEST):
        earlier = np.isin(assignment, list(range(split)))
        leaked = (assignment == split) & np.isin(leak_hash, leak_hash[earlier])
        assignment[leaked] = DROPPED
        removed += int(leaked.sum())
    return removed


class Plan:
    """Pass 1's keys turned into one split (or DROPPED) per spooled row."""

    def __init__(self, scan: Scan, config: PrepareConfig, source: str):
        self.config = config
        self.source = source
        keys = scan.keys
        self.label = keys.concat("label", np.int32)
        self.length = keys.concat("length", np.int32)
        text_hash = keys.concat("text_hash", np.uint64)
        self.dropped = Counter(scan.dropped)
        self._check_unlabelled(scan)
        keep, self.conflicts = _deduplicate(text_hash, self.label)
        self.dropped["duplicate"] = int((~keep).sum())
        # Codes in label-name order, not order of first appearance: ties between labels (the
        # majority label of a near-duplicate set) and the random draws per label then do not
        # depend on the order of the source rows.
        # Multi-label: a code stands for a label set; `member` says which labels each holds.
        self.multi_label = scan.multi_label
        names = sorted(scan.label_codes)
        if names:
            by_name = np.array(
                [names.index(n) for n in sorted(scan.label_codes, key=scan.label_codes.get)]
            )
            self.label = by_name[self.label]
        label_names, self.member = _memberships(names, self.multi_label)
        keep &= self._rare_label_mask(keep, label_names)
        present = self._label_counts(keep) > 0
        self.labels = [name for name, seen in zip(label_names, present, strict=True) if seen]
        self.member = self.member[:, present]
        self.stratum = self._strata(keep)
        leak_hash = keys.concat("leak_hash", np.uint64)
        if keep.any():
            self._leak_units = _units(leak_hash[keep], self.stratum[keep])
        self._check_labels(keep, label_names)
        self.assignment = np.full(len(keep), DROPPED, dtype=np.int8)
        self.assignment[keep] = self._assign(keep, keys)
        self.dropped["near_duplicate_across_splits"] = _drop_leaks(self.assignment, leak_hash)
        self._check_splits_filled()

    def _label_counts(self, keep: np.ndarray) -> np.ndarray:
        """Kept rows per label (a multi-label row counts for each of its labels), computed per
        label key so that memory stays a few bytes per row."""
        keys = np.bincount(self.label[keep], minlength=len(self.member))
        return keys @ self.member

    def _strata(self, keep: np.ndarray) -> np.ndarray:
        """What a row is stratified on: its label, or (multi-label) its set's rarest label."""
        if not self.multi_label:
            return self.label
        counts = self._label_counts(keep)
        # Rarest first, then by name: among a set's labels, the one with the fewest rows.
        rank = np.lexsort((np.arange(len(counts)), counts))
        order = np.empty_like(rank)
        order[rank] = np.arange(len(rank))
        scored = np.where(self.member, order, len(order))
        return scored.argmin(1)[self.label] if len(self.label) else self.label

    def _check_unlabelled(self, scan: Scan) -> None:
        if scan.dropped["unlabeled"] and not self.config.drop_unlabeled:
            raise KfpNlpError(
                f"{scan.dropped['unlabeled']} rows of {self.source} have no "
                f"{self.config.label_column!r} (NaN or empty; first at data row "
                f"{scan.first_unlabelled_row}); fill them in or pass drop_unlabeled to drop them"
            )

    def _rare_label_mask(self, keep: np.ndarray, names: list[str]) -> np.ndarray:
        """Rows carrying a label with fewer than min_label_count rows (dropped, or an error)."""
        counts = self._label_counts(keep)
        rare = [i for i, c in enumerate(counts) if 0 < c < self.config.min_label_count]
        if rare and self.config.rare_labels == "fail":
            listed = ", ".join(f"{names[i]!r} ({counts[i]} rows)" for i in rare)
            raise KfpNlpError(
                f"labels {listed} have fewer than min_label_count={self.config.min_label_count} "
                "rows; add examples, lower min_label_count, or set rare_labels=drop"
            )
        mask = ~self.member[:, rare].any(1)[self.label]
        self.dropped["rare_label"] = int((keep & ~mask).sum())
        return mask

    def _check_labels(self, keep: np.ndarray, names: list[str]) -> None:
        if not keep.any():
            raise KfpNlpError(
                f"no usable rows remain in {self.source} after cleaning (dropped: "
                f"{self._dropped_text()}); check text_columns (text_column in the "
                "text-classifier-training pipeline), label_column and the filters"
            )
        if len(self.labels) < 2:
            raise KfpNlpError(
                f"every usable row of {self.source} has the label {self.labels[0]!r}; a "
                "classifier needs at least two labels: check label_column or add other classes"
            )
        if self.config.time_column or self.config.group_column:
            return
        needed = sum(1 for f in self.config.fractions.values() if f > 0)
        if self.multi_label:
            # Distinct texts (near-duplicate sets) that carry each label.
            inverse = self._leak_units[0]
            carried = np.zeros((inverse.max() + 1, len(self.labels)), dtype=bool)
            np.logical_or.at(carried, inverse, self.member[self.label[keep]])
            counts, names = carried.sum(0), self.labels
        else:
            counts = np.bincount(self._leak_units[1], minlength=len(names))
        short = [(names[i], c) for i, c in enumerate(counts) if 0 < c < needed]
        if short:
            listed = ", ".join(f"{n!r} ({c} distinct texts)" for n, c in short)
            raise KfpNlpError(
                f"labels {listed} have too few rows to stratify into {needed} splits; add "
                f"examples, or raise min_label_count above their count so they are dropped"
            )

    def _assign(self, keep: np.ndarray, keys: Keys) -> np.ndarray:
        """A split per kept row: by time, by group, or stratified over near-duplicate sets."""
        fractions = list(self.config.fractions.values())
        rng = np.random.default_rng(self.config.seed)
        label = self.stratum[keep]
        if self.config.time_column:
            return _by_time(keys.concat("time", np.int64)[keep], fractions)
        if self.config.group_column:
            inverse, majority, sizes = _units(keys.concat("group", np.uint64)[keep], label)
            split = _balanced(majority, sizes, fractions, rng)[inverse]
        else:
            # Near-duplicates ('STOP', 'stop!!') move together, so they never straddle splits.
            inverse, majority, _ = self._leak_units
            split = _stratified(majority, fractions, rng)[inverse]
        if self.multi_label:
            split = _every_label_in_train(split, inverse, self.member[self.label[keep]])
        return split

    def _check_splits_filled(self) -> None:
        for split, name in enumerate(SPLITS):
            if self.config.fractions[name] > 0 and not (self.assignment == split).any():
                raise KfpNlpError(
                    f"the {name} split of {self.source} came out empty (too few rows or groups "
                    f"left after cleaning); add data or set {name}_fraction to 0"
                )

    def _dropped_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()) if v) or "none"

    def split_facts(self, split: int, name: str, source_uri: str) -> dict[str, Any]:
        rows = self.assignment == split
        held = np.bincount(self.label[rows], minlength=len(self.member))
        facts = {
            "split": name,
            "rows": int(rows.sum()),
            "labels": self.labels,
            "label_counts": {
                label: int(c) for label, c in zip(self.labels, held @ self.member, strict=True)
            },
            "source_uri": source_uri,
            "multi_label": self.multi_label,
            "text_column": TEXT,
            "label_column": LABEL,
        }
        if self.multi_label:
            sizes = np.bincount(self.member.sum(1), weights=held).astype(int)
            facts["labels_per_row"] = {str(s): int(c) for s, c in enumerate(sizes) if c}
        return facts


def _memberships(keys: list[str], multi_label: bool) -> tuple[list[str], np.ndarray]:
    """The label names, sorted, and which of them each label key holds (keys x labels)."""
    if not multi_label:
        return keys, np.eye(len(keys), dtype=bool)
    sets = [key.split(SET_KEY) for key in keys]
    names = sorted({label for labels in sets for label in labels})
    return names, label_matrix(sets, names)
