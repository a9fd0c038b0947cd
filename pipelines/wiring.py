"""How a pipeline takes over the parameters of the pipeline it calls, and what it leaves alone.

A pipeline that calls another one (monitoring -> training, a condition's nested pipeline -> the
steps it guards) does not copy the callee's parameters: `inherits(callee)` gives the caller's
function every parameter of the callee that the caller does not declare itself, with the
callee's type, default and description, and hands them to the body as `**inherited`, which the
body forwards whole. A parameter added to the training pipeline is therefore a parameter of the
monitoring pipeline, and reaches its retrain, with no edit here.

`LEFT_AT_DEFAULT` is the one list of the parameters of a called pipeline that its caller
deliberately does not set, each with the reason; `unwired` reads a compiled pipeline and names
every call that neither sets a parameter of the pipeline it calls nor lists it there.
tests/pipeline/test_wiring.py runs it on every shipped pipeline. (Calls of components are not
held to this: a pipeline exposes the settings its users tune, and the component's own defaults,
declared once in the stage's config, hold for the rest.)
"""

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# (calling pipeline, called pipeline) -> {parameter of the called one: why it stays at its
# default}, by the names in the compiled pipeline (`text-classifier-monitoring`,
# `retrain-if-drifted`). Empty today: every call passes every parameter.
LEFT_AT_DEFAULT: dict[tuple[str, str], dict[str, str]] = {}


def _parameters(callee: Any) -> list[inspect.Parameter]:
    """The callee's parameters (not its artifacts), in its signature's order."""
    func = getattr(callee, "pipeline_func", None) or callee.python_func
    inputs = callee.component_spec.inputs or {}
    return [
        p
        for p in inspect.signature(func).parameters.values()
        if p.name in inputs and inputs[p.name].type in _PARAMETER_TYPES
    ]


_PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean", "List", "Struct")


def _describe(doc: str, descriptions: Mapping[str, str]) -> str:
    """`doc` (whose Args section comes last) with one Args entry per inherited parameter."""
    lines = [inspect.cleandoc(doc).rstrip()]
    if "Args:" not in lines[0]:
        lines.append("\nArgs:")
    for name, text in descriptions.items():
        lines.append(f"    {name}: {' '.join(text.split())}")
    return "\n".join(lines) + "\n"


def inherits(
    *callees: Any, wired: Iterable[str] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give the decorated pipeline function the parameters of `callees` it does not declare.

    The function declares its own parameters and ends with `**settings`; it receives every
    other parameter of the callees there, under the callees' names, and forwards each callee
    its share with `pick(settings, callee)`. A callee parameter that the caller declares under
    the same name is the caller's, and is not inherited: the body passes it on itself, as it
    means it (the monitoring pipeline's `text_column` is the monitored window's column; it
    passes its `data_text_column` as the retrain's `text_column`). `wired` names the callee
    parameters that the body sets from something else (an upstream output, a parameter of
    another name) and that are therefore not the caller's parameters at all.
    """
    wired = set(wired)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(func)
        declared = [
            p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        skip = {p.name for p in declared} | wired
        added: dict[str, inspect.Parameter] = {}
        descriptions: dict[str, str] = {}
        for callee in callees:
            for p in _parameters(callee):
                if p.name in skip:
                    continue
                where = callee.component_spec.name
                if p.name in added:
                    raise TypeError(
                        f"{func.__name__} must declare {p.name}: {where} and another callee "
                        "both take it, and only the caller can say which value each gets"
                    )
                if p.default is inspect.Parameter.empty:
                    raise TypeError(
                        f"{func.__name__} must declare {p.name}: it is required by {where} "
                        "and has no default to inherit"
                    )
                added[p.name] = p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
                descriptions[p.name] = callee.component_spec.inputs[p.name].description or ""
        names = [p.name for p in declared] + list(added)

        # KFP builds the pipeline by calling it with one channel per parameter, in order.
        @functools.wraps(func)
        def pipeline(*args: Any) -> Any:
            return func(**dict(zip(names, args, strict=True)))

        del pipeline.__wrapped__  # inspect.signature must read __signature__, not func's
        pipeline.__signature__ = own.replace(parameters=declared + list(added.values()))
        pipeline.__doc__ = _describe(func.__doc__ or "", descriptions)
        return pipeline

    return decorate


def pick(settings: Mapping[str, Any], callee: Any) -> dict[str, Any]:
    """The entries of `settings` that are parameters of `callee`."""
    inputs = callee.component_spec.inputs or {}
    return {name: value for name, value in settings.items() if name in inputs}


def unwired(ir: Mapping[str, Any]) -> list[str]:
    """Every parameter of a called pipeline that its caller neither sets nor lists in
    `LEFT_AT_DEFAULT`, as `caller -> callee: parameter`, in the compiled pipeline `ir`."""
    components = ir.get("components", {})

    def name(key: str) -> str:
        return ir["pipelineInfo"]["name"] if key == "root" else key.removeprefix("comp-")

    dags = {"root": ir["root"]} | {k: v for k, v in components.items() if "dag" in v}
    # A condition (dsl.If) is a DAG of its own that holds tasks of the pipeline around it.
    around = {
        task["componentRef"]["name"]: key
        for key, dag in dags.items()
        for task in dag["dag"].get("tasks", {}).values()
        if task["componentRef"]["name"].startswith("comp-condition-")
    }

    def caller(key: str) -> str:
        while key in around:
            key = around[key]
        return name(key)

    found = []
    for dag_key, dag in dags.items():
        for task in dag["dag"].get("tasks", {}).values():
            callee_key = task["componentRef"]["name"]
            callee = components[callee_key]
            if "dag" not in callee or callee_key in around:
                continue
            wanted = callee.get("inputDefinitions", {}).get("parameters", {})
            given = task.get("inputs", {}).get("parameters", {})
            left = LEFT_AT_DEFAULT.get((caller(dag_key), name(callee_key)), {})
            found += [
                f"{caller(dag_key)} -> {name(callee_key)}: {p}"
                for p in wanted
                if p not in given and p not in left
            ]
    return found
