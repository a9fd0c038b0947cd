"""The statistics of drift monitoring: two-sample tests, PSI, MMD and the performance estimate.

Plain numpy and scipy, no monitoring library: each test is a few lines whose assumptions can
be read here. Every test returns a p-value; the caller combines them (Bonferroni).
"""

import numpy as np
from scipy import stats

from components.common.metrics import macro_f1

# Character classes, in the order their shares are reported.
CHAR_CLASSES = ("ASCII letters", "digits", "punctuation", "space", "non-ASCII letters", "other")
# The per-text kinds of `char_class`.
TEXT_KINDS = ("ASCII words", "with digits", "non-ASCII letters", "no letters")


def char_class(text: str) -> int:
    """The text's kind by its characters: 0 plain ASCII words, 1 with digits, 2 with non-ASCII
    letters (another script or accents), 3 no letters at all. One category per text keeps the
    chi-square test's counts independent (characters of one text are not)."""
    if any(c.isalpha() and not c.isascii() for c in text):
        return 2
    if not any(c.isalpha() for c in text):
        return 3
    return 1 if any(c.isdigit() for c in text) else 0


def char_mix(texts: list[str]) -> dict[str, float]:
    """Share of all characters in each class of CHAR_CLASSES (for the report)."""
    counts = np.zeros(len(CHAR_CLASSES))
    for text in texts:
        for c in text:
            if c.isalpha():
                counts[0 if c.isascii() else 4] += 1
            elif c.isdigit():
                counts[1] += 1
            elif c.isspace():
                counts[3] += 1
            elif c.isascii():
                counts[2] += 1
            else:
                counts[5] += 1
    total = counts.sum() or 1.0
    return dict(zip(CHAR_CLASSES, (counts / total).tolist(), strict=True))


def ks_test(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (conservative on discrete data such as lengths)."""
    return float(stats.ks_2samp(reference, current).pvalue)


def rank_test(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value; suited to rates with many ties at zero."""
    if np.all(reference == reference[0]) and np.all(current == reference[0]):
        return 1.0
    return float(stats.mannwhitneyu(reference, current, alternative="two-sided").pvalue)


def counts_test(reference: np.ndarray, current: np.ndarray) -> float:
    """Chi-square test of homogeneity of two count vectors over the same categories."""
    table = np.vstack([reference, current]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def psi(reference: np.ndarray, current: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index of two count vectors (0.1: moderate, 0.25: major shift)."""
    p = np.maximum(reference / max(reference.sum(), 1), floor)
    q = np.maximum(current / max(current.sum(), 1), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def mmd_test(
    reference: np.ndarray, current: np.ndarray, permutations: int, seed: int = 0
) -> tuple[float, float]:
    """Maximum mean discrepancy with a Gaussian kernel (median-distance bandwidth) and its
    permutation p-value; returns (mmd^2, p)."""
    pooled = np.vstack([reference, current]).astype(np.float64)
    squared = np.sum(pooled**2, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T, 0)
    bandwidth = np.median(distances[np.triu_indices(len(pooled), 1)]) or 1.0
    kernel = np.exp(-distances / bandwidth)
    n, m = len(reference), len(current)
    # mmd^2 = a' K a with a = +1/n on the reference rows and -1/m on the current ones.
    weights = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(weights) for _ in range(permutations)])
    observed = float(weights @ kernel @ weights)
    null = np.sum((shuffled @ kernel) * shuffled, axis=1)
    return observed, float((1 + np.sum(null >= observed)) / (1 + permutations))


def expected_macro_f1(probs: np.ndarray) -> float:
    """Confidence-based macro-F1: the F1 expected if labels follow the (calibrated) probabilities.

    Per class k: expected TP = sum of p_k over texts predicted k, FP = sum of (1 - p_k) over them,
    FN = sum of p_k over texts predicted otherwise. Classes with nothing expected are skipped.
    """
    predicted = probs.argmax(axis=1)
    scores = []
    for k in range(probs.shape[1]):
        mine = predicted == k
        tp = probs[mine, k].sum()
        fp = (1 - probs[mine, k]).sum()
        fn = probs[~mine, k].sum()
        if tp + fp + fn > 0:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def f1_interval(
    probs: np.ndarray, draws: int = 200, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Where the window's real macro-F1 lies if its labels are drawn from the probabilities."""
    rng = np.random.default_rng(seed)
    predicted = probs.argmax(axis=1)
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    values = []
    for _ in range(draws):
        u = rng.random((len(probs), 1))
        drawn = np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)
        values.append(macro_f1(drawn, predicted, probs.shape[1], averaged="observed"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
