"""Temperature scaling on a real small trained classifier, applied through the shared scorer."""

import numpy as np

from benchmarks.small_classifier import build_model, split_replies, write_dataset
from components.common.artifacts import write_manifest
from components.common.inference import load_classifier, predict_proba
from components.common.metrics import expected_calibration_error
from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import evaluate
from components.evaluate.outputs import scalar_metrics
from components.evaluate.report import render_report
from components.finetune.calibration import calibrate
from components.sample_data import LABELS


def test_temperature_fitted_on_one_half_lowers_ece_on_the_other(tmp_path):
    # A head trained hard on frozen features, never calibrated: over-confident, as fine-tuned
    # models are before temperature scaling.
    train, test = split_replies(1000, seed=7)
    model_dir = build_model(tmp_path / "model", sorted(LABELS), train, steps=300)
    test_path = write_dataset(test, tmp_path / "test.parquet", "test")
    texts = test["text"].tolist()
    before = load_classifier(model_dir)
    y = np.array([before.labels.index(name) for name in test["label"]])
    half = len(texts) // 2
    uncalibrated = predict_proba(before, texts[half:], precision="fp32")

    result = calibrate(model_dir, texts[:half], y[:half], max_length=128, batch_size=64)
    write_manifest(model_dir, {})
    after = load_classifier(model_dir)
    calibrated = predict_proba(after, texts[half:], precision="fp32")

    assert before.temperature == 1.0
    assert after.temperature == result["temperature"] != 1.0
    # Same predictions, more honest confidences on texts the temperature was not fitted to.
    np.testing.assert_array_equal(uncalibrated.argmax(1), calibrated.argmax(1))
    ece_before = expected_calibration_error(y[half:], uncalibrated)
    ece_after = expected_calibration_error(y[half:], calibrated)
    assert ece_after < 0.7 * ece_before, (ece_before, ece_after)
    assert result["val_ece"] < result["val_ece_uncalibrated"]

    # The evaluation reports the test ECE with and without the model's temperature.
    evaluation = evaluate(model_dir, test_path, EvaluateConfig())
    metrics = scalar_metrics(evaluation, EvaluateConfig())
    assert metrics["temperature"] == after.temperature
    assert metrics["ece"] < metrics["ece_uncalibrated"]
    assert f"ECE {metrics['ece_uncalibrated']:.4f} before" in render_report(evaluation)
