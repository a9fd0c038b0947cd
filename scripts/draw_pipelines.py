"""Draw the compiled pipelines as Mermaid flowcharts inside the docs (GitHub renders them).

    .venv/bin/python scripts/draw_pipelines.py          # redraw every graph in the docs
    .venv/bin/python scripts/draw_pipelines.py --check  # exit 1 if a graph differs from the IR

A graph sits in a Markdown file between `<!-- pipeline graph: NAME -->` and
`<!-- end pipeline graph -->` and is drawn from the compiled IR, pipelines/compiled/NAME.yaml,
the way the KFP UI lays out a run: a box per task under its display name, a sub-DAG (a
condition, a nested pipeline) as a frame around its own tasks, titled with its display name or
its condition, and an arrow for each dependency, labelled with the inputs it carries.
Run it after `kfp-nlp compile` changes the YAML; tests/docs/test_pipeline_graphs.py runs the check.
"""

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "pipelines" / "compiled"
DOCS = [REPO / "README.md", REPO / "docs" / "pipelines.md"]
BLOCK = re.compile(
    r"(<!-- pipeline graph: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end pipeline graph -->)",
    re.S,
)
CHANNEL = re.compile(r"inputs\.parameter_values\['pipelinechannel--(\w+)'\]")


def label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def title(task: dict[str, Any]) -> str:
    """A task's display name; a condition's frame shows its condition instead."""
    condition = task.get("triggerPolicy", {}).get("condition")
    if condition:
        return "if " + CHANNEL.sub(r"\1", condition)
    return task["taskInfo"]["name"]


def passed(task: dict[str, Any], producer: str) -> list[str]:
    """The names of the task's inputs that the producer's outputs feed."""
    names = []
    for kind in ("artifacts", "parameters"):
        for name, source in task.get("inputs", {}).get(kind, {}).items():
            output = source.get("taskOutputArtifact") or source.get("taskOutputParameter") or {}
            if output.get("producerTask") == producer:
                names.append(name)
    return sorted(names)


def in_order(tasks: dict[str, dict[str, Any]]) -> list[str]:
    """The tasks in dependency order, ties by name, so the text is the same on every run."""
    done: list[str] = []
    while len(done) < len(tasks):
        ready = sorted(
            name
            for name, task in tasks.items()
            if name not in done and all(d in done for d in task.get("dependentTasks", []))
        )
        done.append(ready[0])
    return done


class Drawing:
    """The Mermaid lines of one pipeline; tasks get short ids (t1, t2, ...) in drawing order."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components
        self.ids: dict[tuple[str, ...], str] = {}
        self.nodes: list[str] = []
        self.edges: list[str] = []

    def dag(self, dag: dict[str, Any], path: tuple[str, ...], indent: str) -> None:
        tasks = dag["tasks"]
        for name in in_order(tasks):
            task = tasks[name]
            here = self.ids[(*path, name)] = f"t{len(self.ids) + 1}"
            inner = self.components[task["componentRef"]["name"]].get("dag")
            if inner:
                self.nodes.append(f"{indent}subgraph {here} [{label(title(task))}]")
                self.dag(inner, (*path, name), indent + "  ")
                self.nodes.append(f"{indent}end")
            else:
                self.nodes.append(f"{indent}{here}[{label(title(task))}]")
            for producer in sorted(task.get("dependentTasks", [])):
                carried = ", ".join(passed(task, producer))
                arrow = f" -->|{label(carried)}| " if carried else " --> "
                self.edges.append(f"  {self.ids[(*path, producer)]}{arrow}{here}")


def draw(spec: dict[str, Any]) -> str:
    """The Mermaid flowchart of a compiled pipeline spec."""
    drawing = Drawing(spec["components"])
    drawing.dag(spec["root"]["dag"], (), "  ")
    return "\n".join(["```mermaid", "flowchart TD", *drawing.nodes, *drawing.edges, "```"])


def redraw(text: str, compiled: Path) -> str:
    """The Markdown text with every marked graph drawn afresh from the compiled IR."""

    def replace(match: re.Match[str]) -> str:
        source = compiled / f"{match['name']}.yaml"
        if not source.is_file():
            raise SystemExit(f"error: no compiled pipeline {source}; run `kfp-nlp compile` first")
        spec = yaml.safe_load(source.read_text())
        return f"{match[1]}{draw(spec)}\n{match[4]}"

    return BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DOCS, help="Markdown files")
    parser.add_argument("--compiled", type=Path, default=COMPILED, help="the compiled IR folder")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a graph is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for path in args.files:
        text = path.read_text()
        drawn = redraw(text, args.compiled)
        if drawn == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(drawn)
    for path in stale:
        verb = "differs from" if args.check else "redrawn from"
        print(f"{path}: a pipeline graph {verb} {args.compiled}", file=sys.stderr)
    if args.check and stale:
        print("fix: .venv/bin/python scripts/draw_pipelines.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
