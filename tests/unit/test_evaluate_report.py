"""The HTML report and the KFP metric artifacts, built from constructed predictions: pictures
are real PNGs of a sensible size, every user text is escaped, undefined metrics say so."""

import base64
import re

import numpy as np
import pyarrow as pa
from kfp.dsl import ClassificationMetrics
from markupsafe import escape

from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import assemble
from components.evaluate.examples import Examples
from components.evaluate.kfp_io import _log_classification_metrics
from components.evaluate.outputs import predictions_table, scalar_metrics, summary
from components.evaluate.report import render_report
from components.evaluate.slices import MAX_SLICE_VALUES

HOSTILE_TEXT = "<script>alert('owned')</script> where is my order?"
HOSTILE_LABEL = '<img src=x onerror="alert(1)">'


def _test_set(labels: list[str], n: int, seed: int) -> tuple[Examples, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(labels), n)
    texts = [HOSTILE_TEXT if i % 7 == 0 else f"reply number {i}" for i in range(n)]
    channel = [["sms", "email", "<b>push</b>"][i % 3] for i in range(n)]
    names = [labels[i] for i in y]
    table = pa.table({"text": texts, "label": names, "channel": channel})
    logits = rng.normal(size=(n, len(labels)))
    logits[np.arange(n), y] += 1.5
    # The hostile texts are confidently wrong, so the report lists them as mistakes.
    logits[::7, :] = 0.0
    logits[np.arange(0, n, 7), (y[::7] + 1) % len(labels)] = 6.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Examples(table, texts, names, labels, True, "s3://bucket/<test>.parquet"), probs


def _pngs(html_text: str) -> list[tuple[int, int]]:
    sizes = []
    for encoded in re.findall(r'src="data:image/png;base64,([^"]+)"', html_text):
        data = base64.b64decode(encoded, validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
        assert data[12:16] == b"IHDR"
        sizes.append((int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")))
    return sizes


def test_report_embeds_pictures_and_escapes_every_user_text() -> None:
    labels = ["complaint", HOSTILE_LABEL, "order_status"]
    test, probs = _test_set(labels, 300, 1)
    champion = np.roll(probs, 1, axis=1)
    config = EvaluateConfig(slice_columns="channel,text_length", mistakes_shown=5)

    evaluation = assemble(test, config, probs, champion, "<model>", "s3://prod/<champion>")
    html_text = render_report(evaluation)

    sizes = _pngs(html_text)
    # confusion matrix, comparison, per-class bars, reliability diagram, slices
    assert len(sizes) == 5
    assert all(300 <= w <= 2500 and 200 <= h <= 2500 for w, h in sizes), sizes
    assert "<script>" not in html_text
    assert escape(HOSTILE_TEXT) in html_text and "&lt;script&gt;alert(&#39;owned&#39;)" in html_text
    assert "<img src=x" not in html_text
    assert escape(HOSTILE_LABEL) in html_text
    assert "&lt;b&gt;push&lt;/b&gt;" in html_text
    assert "s3://prod/&lt;champion&gt;" in html_text
    assert "Champion vs challenger" in html_text
    assert html_text.count("<tr>") > 20


def test_report_without_champion_says_so_and_marks_undefined_metrics() -> None:
    labels = ["a", "b", "c"]
    test, probs = _test_set(labels, 60, 2)
    keep = np.array(test.names) != "c"  # class c absent from the test set
    table = test.table.filter(pa.array(keep))
    names = [n for n, k in zip(test.names, keep, strict=True) if k]
    texts = [t for t, k in zip(test.texts, keep, strict=True) if k]
    test = Examples(table, texts, names, labels, True, "test.parquet")

    evaluation = assemble(test, EvaluateConfig(), probs[keep], None, "model", None)
    html_text = render_report(evaluation)

    assert "No champion was given" in html_text
    assert "Classes absent from the test set" in html_text
    assert 'class="na">undefined' in html_text
    assert len(_pngs(html_text)) == 3  # confusion matrix, per-class bars, reliability diagram
    assert evaluation.decision.challenger["per_class"][2]["recall"] is None


def test_binary_task_logs_a_roc_curve_and_the_confusion_matrix() -> None:
    test, probs = _test_set(["negative", "positive"], 400, 3)
    evaluation = assemble(test, EvaluateConfig(), probs, None, "model", None)
    artifact = ClassificationMetrics(name="classification_metrics")

    _log_classification_metrics(artifact, evaluation)

    matrix = artifact.metadata["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == ["negative", "positive"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 400
    curve = artifact.metadata["confidenceMetrics"]
    assert 2 < len(curve) <= 201
    assert curve[0]["falsePositiveRate"] == 0.0
    assert curve[-1]["recall"] == 1.0
    assert all(0.0 <= point["confidenceThreshold"] <= 1.0 for point in curve)


def test_scalars_and_predictions_table() -> None:
    test, probs = _test_set(["a", "b", "c"], 90, 4)
    evaluation = assemble(test, EvaluateConfig(), probs, probs, "model", "champion")

    scalars = scalar_metrics(evaluation, EvaluateConfig())
    table = predictions_table(evaluation).to_pydict()

    assert scalars["delta_macro_f1"] == 0.0
    assert scalars["macro_f1_ci_low"] <= scalars["macro_f1"] <= scalars["macro_f1_ci_high"]
    assert set(table) >= {"text", "label", "channel", "predicted_label", "probabilities"}
    assert len(table["text"]) == 90
    assert table["predicted_label"][0] == ["a", "b", "c"][int(np.argmax(probs[0]))]
    np.testing.assert_allclose(table["probabilities"][5], probs[5])
    assert table["champion_predicted_label"] == table["predicted_label"]


def test_slices_of_a_many_valued_column_show_the_most_frequent() -> None:
    test, probs = _test_set(["a", "b"], 200, 5)
    customers = [f"customer-{i % 40}" if i < 160 else "customer-big" for i in range(200)]
    test = Examples(
        test.table.append_column("customer", pa.array(customers)),
        test.texts,
        test.names,
        test.labels,
        True,
        "test.parquet",
    )
    config = EvaluateConfig(slice_columns="customer", bootstrap_resamples=100)

    evaluation = assemble(test, config, probs, None, "model", None)

    assert len(evaluation.slices) == MAX_SLICE_VALUES
    assert evaluation.slices[0]["value"] == "customer-big"
    assert evaluation.slices[0]["n"] == 40
    assert "customer has 41 values; the 25 most frequent are shown." in render_report(evaluation)


def test_slices_of_every_column_are_sorted_by_support_in_the_report_and_the_summary() -> None:
    test, probs = _test_set(["a", "b"], 120, 6)
    # "region" has a 60-row value and "channel" 40-row values: the region's comes first.
    region = ["north" if i < 60 else "south" if i < 80 else "east" for i in range(120)]
    test = Examples(
        test.table.append_column("region", pa.array(region)),
        test.texts,
        test.names,
        test.labels,
        True,
        "test.parquet",
    )
    config = EvaluateConfig(slice_columns="channel,region", bootstrap_resamples=100)

    evaluation = assemble(test, config, probs, None, "model", None)

    listed = [(s["column"], s["value"], s["n"]) for s in summary(evaluation)["slices"]]
    assert listed[0] == ("region", "north", 60)
    assert [n for _, _, n in listed] == sorted((n for _, _, n in listed), reverse=True)
    table = render_report(evaluation).split("<h2>Slices</h2>")[1]
    shown = re.findall(
        r'<td class="text">(\w+)</td><td class="text">([^<]+)</td><td>(\d+)</td>', table
    )
    assert [(c, v, int(n)) for c, v, n in shown] == [(c, escape(v), n) for c, v, n in listed]
