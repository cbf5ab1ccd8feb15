"""The house rules of docs/architecture.md, checked on the source: imports flow one way
(function-level imports included), heavy libraries stay off the start-up path, and
each command's options are exactly its parameters plus the shared ones."""

import ast
import importlib.metadata
import re
from pathlib import Path

import click
import pytest
import typer
from typer.main import get_command

import kdbound
from kdbound.cli.app import app, escape
from kdbound.cli.options import option_name, shared_options
from kdbound.engine.specs import BOUND_SPECS

ROOT = Path(kdbound.__file__).parent

# lower layers first: a module may import only from its own layer or lower ones
LAYERS = [
    ("kdbound.errors", "kdbound.formats", "kdbound._version"),
    ("kdbound.engine",),
    ("kdbound.io",),
    ("kdbound.experiment",),
    ("kdbound.render",),
    ("kdbound.cli.status", "kdbound.cli.click_api"),
    ("kdbound.cli.options",),
    ("kdbound.cli.group",),
    ("kdbound.cli.batch",),
    ("kdbound.cli.run", "kdbound.cli.lingauss", "kdbound.cli.simulate", "kdbound.cli.estimate"),
    ("kdbound.cli.app",),
    ("kdbound.cli.main", "kdbound.__main__", "kdbound"),
]
HEAVY = ("pyarrow", "matplotlib", "scipy", "rich", "sklearn", "joblib", "dask", "distributed", "threadpoolctl")
# the modules allowed to import a heavy library
HEAVY_HOMES = {"pyarrow": {"kdbound.io.tables", "kdbound.io.runs"}, "matplotlib": {"kdbound.render.plot"},
               "rich": {"kdbound.render.report", "kdbound.render.environment", "kdbound.render.progress"},
               "scipy": {"kdbound.engine.simulate", "kdbound.engine.estimate"},
               # distill's libraries (the extras kdbound[distill] and kdbound[dask]), each in its one home
               "sklearn": {"kdbound.experiment.models", "kdbound.experiment.protocol", "kdbound.experiment.data"},
               "threadpoolctl": {"kdbound.experiment.protocol"},
               "joblib": {"kdbound.experiment.executor"},
               "dask": {"kdbound.experiment.executor"},
               "distributed": {"kdbound.experiment.executor", "kdbound.experiment.dask_plugin"}}
# modules that import a heavy library at their top: others import them only inside functions
HEAVY_AT_TOP = {"kdbound.io.tables": "pyarrow", "kdbound.cli.batch": "pyarrow (through io.tables)",
                "kdbound.cli.estimate": "pyarrow (through io.tables)",
                "kdbound.experiment.dask_plugin": "distributed (imported only by the Dask executor)"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path):
    """(imported module, top-level?) for every import in the file, resolved to absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            for alias in node.names:
                full = f"{mod}.{alias.name}"
                yield (full if (ROOT.parent / Path(*full.split("."))).with_suffix(".py").exists()
                       or (ROOT.parent / Path(*full.split(".")) / "__init__.py").exists() else mod), id(node) in top


def graph():
    out = {}
    for path in ROOT.rglob("*.py"):
        out[module_name(path)] = {m for m, _ in imports(path) if m.split(".")[0] == "kdbound"}
    return out


def layer(mod: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for prefix in names:
            if mod == prefix or mod.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    assert best is not None, f"{mod} is in no layer of docs/architecture.md"
    return best[0]


def test_imports_flow_one_way_and_have_no_cycle():
    g = graph()
    upward = [(a, b) for a, deps in g.items() for b in deps if b != a and layer(b) > layer(a)]
    assert upward == [], f"imports that go up a layer: {upward}"
    # no cycle, also within a layer (depth-first search over every import, function-level included)
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in g.get(node, ()):
            if dep == node or dep not in g:
                continue
            if state.get(dep) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, dep]))
            if dep not in state:
                visit(dep, stack + [node])
        state[node] = "done"

    for node in g:
        if node not in state:
            visit(node, [])


def test_heavy_libraries_stay_off_the_start_up_path():
    for path in ROOT.rglob("*.py"):
        mod = module_name(path)
        for imported, top_level in imports(path):
            lib = imported.split(".")[0]
            if lib in HEAVY:
                assert mod in HEAVY_HOMES[lib], f"{mod} imports {imported}"
                assert not top_level or mod in HEAVY_AT_TOP, f"{mod} imports {imported} at module level"
            if imported in HEAVY_AT_TOP and top_level:
                assert mod in HEAVY_AT_TOP, f"{mod} imports {imported} at module level: {HEAVY_AT_TOP[imported]}"


def test_each_command_has_exactly_its_parameters_and_the_shared_options():
    group = get_command(app)
    def decls(info):  # in Annotated form typer keeps the first name in ``default``
        return (info.default, *info.param_decls) if isinstance(info.default, str) else info.param_decls

    shared = {opt for ann, _ in shared_options().values() for opt in decls(ann.__metadata__[0]) if opt.startswith("--")}
    for name, spec in BOUND_SPECS.items():
        opts = {o for p in group.commands[name].params for o in p.opts if o.startswith("--")}
        assert opts == {option_name(p) for p in spec.param_names} | shared, name
        helps = {p.opts[0]: p.help for p in group.commands[name].params}
        for p in spec.params:
            assert helps[option_name(p.name)] == escape(p.help)  # one source for the help text


def _range(requirement: str):
    """(lower inclusive, upper exclusive) version tuples of a 'name>=a,<b' requirement."""
    def version(text):
        return tuple(int(x) for x in re.findall(r"\d+", text)[:3])

    lo = re.search(r">=\s*([\d.]+)", requirement)
    hi = re.search(r"<\s*([\d.]+)", requirement)
    return version(lo.group(1)) if lo else (0,), version(hi.group(1)) if hi else (10 ** 9,)


@pytest.mark.parametrize("package, module", [("typer", typer), ("click", click)])
def test_installed_typer_and_click_are_inside_the_declared_ranges(package, module):
    reqs = [r for r in importlib.metadata.requires("kdbound") if re.match(rf"{package}\b", r)]
    assert len(reqs) == 1, reqs
    lo, hi = _range(reqs[0])
    assert hi < (10 ** 9,), f"{package} must have an upper bound: {reqs[0]}"
    installed = tuple(int(x) for x in re.findall(r"\d+", importlib.metadata.version(package))[:3])
    assert lo <= installed < hi, f"{package} {installed} is outside the tested range {reqs[0]}"


def test_bound_specs_are_read_only():
    """The specs are shared by every command: nothing may change one after it is built."""
    from kdbound.engine.specs import UPPER

    with pytest.raises(AttributeError, match="read-only"):
        UPPER.name = "other"
    with pytest.raises(AttributeError, match="read-only"):
        del UPPER.params
    assert UPPER.name == "upper" and "upper" in repr(UPPER)
    with pytest.raises(TypeError):
        UPPER.closed_forms["kl"] = None  # the mapping is a read-only view


def test_environment_replace_keeps_every_setting():
    import io

    from kdbound.render import Environment

    out = io.StringIO()
    env = Environment(out=out, stdout_isatty=True, stderr_isatty=False, no_color=True, chunk_bytes=7)
    quiet = env.replace(quiet=True)
    assert quiet is not env and quiet.quiet and not env.quiet
    assert (quiet.out, quiet.stdout_isatty, quiet.stderr_isatty, quiet.no_color, quiet.chunk_bytes) == (
        out, True, False, True, 7)
    assert "chunk_bytes=7" in repr(quiet)


def test_environment_reads_no_color_when_not_given(monkeypatch):
    from kdbound.render import Environment

    monkeypatch.setenv("NO_COLOR", "1")
    assert Environment().no_color
    monkeypatch.delenv("NO_COLOR")
    assert not Environment().no_color and Environment(no_color=True).no_color
