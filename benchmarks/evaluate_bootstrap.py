"""Paired bootstrap of the champion gate: scikit-learn in a loop vs our vectorised resampling.

    python -m benchmarks.evaluate_bootstrap [--rows 1000 6000] [--resamples 1000]

For each test set size, both compute the 95% interval of macro-F1(challenger) -
macro-F1(champion) over the same resampled rows (same seed, same draws): the baseline calls
`sklearn.metrics.f1_score` twice per resample, ours builds every resample's confusion matrices
with one `bincount`. The intervals must agree; the table prints the times and their ratio.
"""

import argparse
import time

import numpy as np
from sklearn.metrics import f1_score

from components.evaluate.metrics import bootstrap_interval

CLASSES = 7


def _predictions(rows: int, accuracy: float, y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pred = y.copy()
    wrong = rng.random(rows) > accuracy
    pred[wrong] = (y[wrong] + rng.integers(1, CLASSES, wrong.sum())) % CLASSES
    return pred


def sklearn_interval(
    y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, resamples: int, seed: int
) -> tuple[float, float]:
    """The baseline: one scikit-learn call per model per resample."""
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        truth = y[rows]
        present = np.unique(truth)
        a = f1_score(truth, challenger[rows], labels=present, average="macro")
        b = f1_score(truth, champion[rows], labels=present, average="macro")
        deltas.append(a - b)
    low, high = np.quantile(deltas, [0.025, 0.975])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 6000])
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    print(f"paired bootstrap of macro-F1, {CLASSES} classes, {args.resamples} resamples")
    print(f"{'rows':>6} {'scikit-learn loop s':>20} {'vectorised s':>13} {'speed-up':>9}  interval")
    for rows in args.rows:
        y = np.random.default_rng(0).integers(0, CLASSES, rows)
        challenger, champion = _predictions(rows, 0.85, y, 1), _predictions(rows, 0.83, y, 2)
        start = time.perf_counter()
        expected = sklearn_interval(y, challenger, champion, args.resamples, seed=0)
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        ours = bootstrap_interval(
            y, challenger, CLASSES, "macro_f1", args.resamples, 0.95, 0, baseline_pred=champion
        )
        vectorised = time.perf_counter() - start
        assert np.allclose(ours, expected, atol=1e-12), (ours, expected)
        interval = f"{ours[0]:+.4f} to {ours[1]:+.4f}"
        print(
            f"{rows:>6} {baseline:>20.3f} {vectorised:>13.3f} {baseline / vectorised:>8.1f}x  "
            f"{interval} (equal)"
        )


if __name__ == "__main__":
    main()
