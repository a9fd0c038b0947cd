"""`python -m components.monitor` on payload logs written by the server's own logger.

The window is read from a date/hour-partitioned payload log narrowed to the last hours; an old
partition of foreign texts outside the range must not count. A hash-only log still supports
the tests on lengths, labels and confidence.
"""

import json
import re
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.inference import load_classifier, predict_proba
from components.monitor.__main__ import main
from components.sample_data import generate
from components.serve.payload_log import PayloadLogger

SPANISH = [
    "¿Dónde está mi pedido número {n}?",
    "No me envíen más mensajes, por favor {n}",
    "¿Tienen descuento para clientes nuevos? {n}",
]


def _log(root, model_dir, texts, text_mode):
    classifier = load_classifier(model_dir)
    logger = PayloadLogger(str(root), "intent", "sha256-test", text_mode=text_mode)
    for start in range(0, len(texts), 16):
        chunk = texts[start : start + 16]
        logger.record("v1", chunk, predict_proba(classifier, chunk), classifier)
    logger.close()


def _move_to_2020(root):
    """Rewrite every part file as if logged on 2020-01-01 at 00:xx (an old partition)."""
    for part in list(root.rglob("part-*.parquet")):
        table = pq.read_table(part, partitioning=None)
        old = pa.array([datetime(2020, 1, 1, tzinfo=UTC)] * table.num_rows, table["timestamp"].type)
        table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", old)
        target = root / "date=2020-01-01" / "hour=00" / part.name
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
        part.unlink()


def _run(capsys, *args):
    main(list(args))
    return json.loads(capsys.readouterr().out)


def test_a_recent_window_like_the_reference_does_not_alert(
    small_model, reference_macro_f1, tmp_path, capsys
):
    root = tmp_path / "log"
    spanish = [SPANISH[i % 3].format(n=i) for i in range(40)]
    _log(root, small_model.model_dir, spanish, "text")
    _move_to_2020(root)
    frame = generate(300, seed=5)
    _log(root, small_model.model_dir, [t for t in frame.reply_text if t.strip()][:150], "text")
    report = tmp_path / "report.html"
    out = _run(
        capsys,
        "--model-uri", str(small_model.model_dir),
        "--current-uri", str(root),
        "--reference-uri", str(small_model.test_path),
        "--report-path", str(report),
        "--window-hours", "2",
    )  # fmt: skip
    assert out["drift_detected"] is False, out["reason"]
    assert out["reason"].startswith("no drift: 6 tests")
    assert out["current_size"] == 150
    assert 0.5 < out["estimated_macro_f1"] <= 1
    assert out["reference_macro_f1"] == pytest.approx(reference_macro_f1, abs=0.01)
    assert out["report"] == str(report)
    page = report.read_text()
    assert "Monitoring report" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4


def test_a_hash_only_log_in_another_language_alerts(small_model, tmp_path, capsys):
    root = tmp_path / "log"
    _log(root, small_model.model_dir, [SPANISH[i % 3].format(n=i) for i in range(110)], "hash")
    assert "text" not in pq.read_table(next(root.rglob("*.parquet"))).column_names
    out = _run(
        capsys,
        "--model-uri", str(small_model.model_dir),
        "--current-uri", str(root),
        "--reference-uri", str(small_model.test_path),
        "--report-path", str(tmp_path / "report.html"),
    )  # fmt: skip
    assert out["drift_detected"] is True
    assert [t["name"] for t in out["tests"]] == ["text length", "predicted labels", "confidence"]
    assert "predicted labels" in out["reason"]


def test_a_window_without_the_text_column_is_one_line_and_exit_2(small_model, tmp_path, capsys):
    table = tmp_path / "window.csv"
    table.write_text("message\nhello\n")
    with pytest.raises(SystemExit) as exit_info:
        from components.common.errors import run_cli

        run_cli(
            main,
            [
                "--model-uri", str(small_model.model_dir),
                "--current-uri", str(table),
                "--reference-uri", str(small_model.test_path),
                "--report-path", str(tmp_path / "report.html"),
            ],
        )  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no column 'text'" in err and err.count("\n") == 1
    assert not (tmp_path / "report.html").exists()
