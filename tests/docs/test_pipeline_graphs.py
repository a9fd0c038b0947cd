"""The pipeline graphs in the docs are the compiled IR's: drawing them again changes nothing.

scripts/draw_pipelines.py draws each marked graph from pipelines/compiled/NAME.yaml; its
`--check` exits 1, naming the page, when a graph on a page differs from what the IR gives.
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "draw_pipelines.py"
COMPILED = REPO / "pipelines" / "compiled"
GRAPH = re.compile(r"<!-- pipeline graph: ([\w-]+) -->\n```mermaid\n(.*?)```", re.S)


def check(*pages: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def graphs(page: Path) -> dict[str, str]:
    return dict(GRAPH.findall(page.read_text()))


def test_every_graph_in_the_docs_is_drawn_from_the_compiled_ir():
    done = check()
    assert done.returncode == 0, done.stderr


def test_the_readme_and_the_pipelines_page_show_the_pipelines():
    assert set(graphs(REPO / "README.md")) == {"text_classifier_training"}
    assert set(graphs(REPO / "docs" / "pipelines.md")) == {
        "text_classifier_training",
        "text_classifier_monitoring",
        "batch_scoring",
    }


def test_every_step_of_the_ir_is_in_its_graph_under_its_display_name():
    for name, graph in graphs(REPO / "docs" / "pipelines.md").items():
        spec = yaml.safe_load((COMPILED / f"{name}.yaml").read_text())
        steps = set()
        for component in [spec["root"], *spec["components"].values()]:
            for task in component.get("dag", {}).get("tasks", {}).values():
                if "triggerPolicy" not in task:
                    steps.add(task["taskInfo"]["name"])
        labels = set(re.findall(r'\["([^"]+)"\]', graph))
        assert steps <= labels, f"{name}: {sorted(steps - labels)} missing from the graph"


def test_a_graph_that_no_longer_matches_the_ir_is_reported(tmp_path: Path):
    page = tmp_path / "page.md"
    stale = (REPO / "README.md").read_text().replace('["Fine-tune"]', '["Train"]')
    page.write_text(stale)
    done = check(page)
    assert done.returncode == 1
    assert f"{page}: a pipeline graph differs from" in done.stderr
    assert page.read_text() == stale, "--check must leave the page as it is"


def test_redrawing_a_stale_graph_restores_it(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text((REPO / "README.md").read_text().replace('["Fine-tune"]', '["Train"]'))
    subprocess.run([sys.executable, str(SCRIPT), str(page)], check=True, timeout=120)
    assert page.read_text() == (REPO / "README.md").read_text()


def test_a_graph_of_a_pipeline_that_was_never_compiled_is_one_line(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("<!-- pipeline graph: no_such_pipeline -->\n<!-- end pipeline graph -->\n")
    done = check(page)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: no compiled pipeline {COMPILED / 'no_such_pipeline.yaml'}; run `kfp-nlp "
        "compile` first"
    ]
