"""monitor_classifier on constructed windows, with a real small trained and calibrated model.

The reference and the windows are sample replies (components.sample_data) profiled once
(scored and embedded by the model); each case draws rows from that pool, so many windows
cost no extra forward passes. Windows from the reference's own distribution must not alert
(at least 95% of seeds at the default significance); shifted ones must.
"""

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from components.common.artifacts import write_manifest
from components.common.inference import load_classifier
from components.finetune.calibration import calibrate
from components.monitor.config import MonitorConfig
from components.monitor.monitor import compare
from components.monitor.windows import Window, profile
from components.sample_data import generate

# The class id of complaints in the small model (labels sorted by name).
COMPLAINT_ID = 0
WINDOW = 150
SEEDS = 20


@pytest.fixture(scope="module")
def classifier(small_model, tmp_path_factory):
    """The small model, calibrated on its own held-out split."""
    model_dir = shutil.copytree(small_model.model_dir, tmp_path_factory.mktemp("m") / "model")
    table = pq.read_table(small_model.test_path)
    labels = load_classifier(model_dir).labels
    y = np.array([labels.index(v) for v in table.column("label").to_pylist()])
    calibrate(model_dir, table.column("text").to_pylist(), y, max_length=128, batch_size=64)
    write_manifest(model_dir, {})
    return load_classifier(model_dir)


def _draw(pool: Window, n: int, complaint_share: float, rng: np.random.Generator) -> np.ndarray:
    """Row indices of `n` pool texts, complaints making up `complaint_share` of them."""
    is_complaint = pool.y_true == COMPLAINT_ID
    complaints = rng.choice(np.flatnonzero(is_complaint), round(n * complaint_share), False)
    rest = rng.choice(np.flatnonzero(~is_complaint), n - len(complaints), False)
    return np.concatenate([complaints, rest])


@pytest.fixture(scope="module")
def pool(classifier) -> Window:
    """1,800 labelled sample replies (no empty ones), profiled by the model once."""
    assert classifier.labels[COMPLAINT_ID] == "complaint"
    frame = generate(2000, seed=11)
    frame = frame[frame.reply_text.str.strip() != ""].head(1800)
    y = np.array([classifier.labels.index(v) for v in frame.intent])
    return profile(classifier, frame.reply_text.tolist(), MonitorConfig(), y)


@pytest.fixture(scope="module")
def split(pool):
    """The reference (600 texts, complaints at 5%) and the rows windows are drawn from."""
    rng = np.random.default_rng(0)
    reference = _draw(pool, 600, 0.05, rng)
    rest = np.setdiff1d(np.arange(len(pool)), reference)
    return pool.take(reference), pool.take(rest)


def test_windows_from_the_reference_distribution_do_not_alert(split, classifier):
    reference, rest = split
    config = MonitorConfig()
    alerts = []
    for seed in range(SEEDS):
        window = rest.take(_draw(rest, WINDOW, 0.05, np.random.default_rng(100 + seed)))
        result = compare(reference, window, classifier.labels, config)
        assert len(result.tests) == 6
        alerts.append(result.drift_detected)
    assert sum(alerts) <= SEEDS * 0.05, alerts


def _shifted(kind: str, rest: Window, classifier) -> Window:
    rng = np.random.default_rng(7)
    if kind == "a class grows from 5% to 40%":
        return rest.take(_draw(rest, WINDOW, 0.40, rng))
    if kind == "much longer texts":
        texts = [" ".join(rng.choice(rest.texts, 5)) for _ in range(WINDOW)]
    elif kind == "a new kind of message":
        texts = [
            f"Your verification code is {rng.integers(100000, 999999)}. It expires in "
            f"{rng.integers(2, 15)} minutes. Do not share it with anyone."
            for _ in range(WINDOW)
        ]
    else:  # messages in another language
        spanish = [
            "¿Dónde está mi pedido? Llevo {n} días esperando",
            "Por favor, no me envíen más mensajes",
            "¿Tienen algún descuento para la próxima compra?",
            "El producto llegó roto, estoy muy decepcionado",
            "¡Muchas gracias, me encanta! Pedido número {n}",
            "¿A qué hora abren el sábado?",
        ]
        texts = [spanish[i % len(spanish)].format(n=rng.integers(2, 400)) for i in range(WINDOW)]
    return profile(classifier, texts, MonitorConfig(), None)


@pytest.mark.parametrize(
    ("kind", "caught_by"),
    [
        ("a class grows from 5% to 40%", "predicted labels"),
        ("a new kind of message", "embeddings"),
        ("messages in another language", "character mix"),
        ("much longer texts", "text length"),
    ],
)
def test_shifted_windows_alert(kind, caught_by, split, classifier):
    reference, rest = split
    window = _shifted(kind, rest, classifier)
    result = compare(reference, window, classifier.labels, MonitorConfig())
    assert result.drift_detected, result.reason
    assert caught_by in result.reason


def test_label_free_estimate_is_near_the_real_macro_f1_on_a_shifted_window(split, classifier):
    reference, rest = split
    window = _shifted("a class grows from 5% to 40%", rest, classifier)
    estimate = compare(reference, window, classifier.labels, MonitorConfig()).estimate
    assert abs(estimate["estimate_error"]) <= 0.08, estimate
    assert estimate["expected_macro_f1_low"] <= estimate["macro_f1"] + 0.08
