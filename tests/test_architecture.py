"""The house rules of docs/architecture.md, checked on the source: imports flow one way
(function-level imports included, and importlib.import_module or __import__ of a literal
name), heavy libraries stay off the start-up path, and each command's options are exactly
its parameters plus the shared ones."""

import ast
import functools
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
    ("kdbound.api",),
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
HEAVY_HOMES = {"pyarrow": {"kdbound.io.arrow", "kdbound.io.table_read", "kdbound.io.table_write", "kdbound.io.runs",
                           "kdbound.io.runs_table"},
               "matplotlib": {"kdbound.render.plot"},
               "rich": {"kdbound.render.report", "kdbound.render.environment", "kdbound.render.progress"},
               "scipy": {"kdbound.engine.sim_draw", "kdbound.engine.sim_kl", "kdbound.engine.estimate",
                         "kdbound.engine.cgf", "kdbound.engine.knn"},
               # distill's libraries (the extras kdbound[distill] and kdbound[dask]), each in its one home
               "sklearn": {"kdbound.experiment.models", "kdbound.experiment.protocol", "kdbound.experiment.data"},
               "threadpoolctl": {"kdbound.experiment.protocol"},
               "joblib": {"kdbound.experiment.executor"},
               "dask": {"kdbound.experiment.executor"},
               "distributed": {"kdbound.experiment.executor", "kdbound.experiment.dask_plugin"}}
# modules that import a heavy library at their top: others import them only inside functions
HEAVY_AT_TOP = {"kdbound.io.table_read": "pyarrow", "kdbound.io.table_write": "pyarrow",
                "kdbound.cli.batch": "pyarrow (through io.table_read and io.table_write)",
                "kdbound.experiment.dask_plugin": "distributed (imported only by the Dask executor)"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(package: str, level: int, name: str | None) -> str:
    """The absolute name of a relative import of ``name`` at ``level`` from ``package``."""
    base = package.split(".")
    base = base[: len(base) - level + 1]
    return ".".join(base + ([name] if name else []))


def _module_or_parent(mod: str, item: str) -> str:
    """``mod.item`` if that is a module of kdbound's source, else ``mod`` (``item`` is a name in it)."""
    full = f"{mod}.{item}"
    where = ROOT.parent / Path(*full.split("."))
    return full if where.with_suffix(".py").exists() or (where / "__init__.py").exists() else mod


def _string(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


#: modules that import by a computed name, each for a reason the checks cover otherwise: a user's
#: ``module:function`` factory and scikit-learn's classes by spec (experiment.models, whose heavy
#: library is checked by its home), and a factory's module on each Dask worker (experiment.executor)
COMPUTED_IMPORTS = {"kdbound.experiment.models", "kdbound.experiment.executor"}


class _DynamicImports:
    """Recognises ``importlib.import_module(...)`` and ``__import__(...)`` calls in one module,
    under any name the module binds them to (``import importlib as il``, ``from importlib import
    import_module as load``, ``builtins.__import__``)."""

    def __init__(self, tree, name: str, package: str):
        self.name, self.package = name, package
        self.modules_bound = {"importlib": {"importlib"}, "builtins": {"builtins"}}
        self.functions_bound = {"import_module": set(), "__import__": {"__import__"}}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    top = a.name.split(".")[0]
                    if top in self.modules_bound and (a.asname is None or a.name == top):
                        self.modules_bound[top].add(a.asname or top)
            elif isinstance(node, ast.ImportFrom) and node.module in ("importlib", "builtins") and not node.level:
                for a in node.names:
                    if a.name in self.functions_bound:
                        self.functions_bound[a.name].add(a.asname or a.name)

    def _kind(self, func):
        if isinstance(func, ast.Name):
            return next((kind for kind, names in self.functions_bound.items() if func.id in names), None)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.attr == "import_module" and func.value.id in self.modules_bound["importlib"]:
                return "import_module"
            if func.attr == "__import__" and func.value.id in self.modules_bound["builtins"] | self.modules_bound["importlib"]:
                return "__import__"
        return None

    def _anchor(self, node):
        """The package a relative ``import_module`` resolves against: a literal, ``__package__`` or ``__name__``."""
        if _string(node) is not None:
            return _string(node)
        if isinstance(node, ast.Name) and node.id in ("__package__", "__name__"):
            return self.package if node.id == "__package__" else self.name
        raise AssertionError(f"{self.name}, line {node.lineno}: import_module's package must be a string "
                             "literal, __package__ or __name__, so that the import can be checked")

    def modules(self, call):
        """The absolute module names a call imports: [] if it is no import call."""
        kind = self._kind(call.func)
        if kind is None:
            return []
        args = dict(enumerate(call.args)) | {k.arg: k.value for k in call.keywords if k.arg}
        target = args.get(0, args.get("name"))
        name = _string(target)
        if name is None and self.name in COMPUTED_IMPORTS:
            return []
        if name is None:
            raise AssertionError(f"{self.name}, line {call.lineno}: {kind} of a computed name; name the module "
                                 "with a string literal so that the layer and start-up checks see it")
        if kind == "import_module":
            level = len(name) - len(name.lstrip("."))
            if not level:
                return [name]
            anchor = args.get(1, args.get("package"))
            if anchor is None:
                raise AssertionError(f"{self.name}, line {call.lineno}: relative import_module without a package")
            return [_resolve(self._anchor(anchor), level, name[level:] or None)]
        level_node = args.get(4, args.get("level"))
        level = 0 if level_node is None else level_node.value if isinstance(level_node, ast.Constant) else None
        if not isinstance(level, int):
            raise AssertionError(f"{self.name}, line {call.lineno}: __import__ with a computed level")
        mod = _resolve(self.package, level, name or None) if level else name
        fromlist = args.get(3, args.get("fromlist"))
        items = [_string(e) for e in fromlist.elts] if isinstance(fromlist, (ast.List, ast.Tuple)) else []
        return [mod] + [_module_or_parent(mod, i) for i in items if i]


def imports_of(source: str, name: str, is_package: bool = False):
    """(imported module, top-level?) for every import in a module's source, resolved to absolute names.

    Import statements and calls of importlib.import_module or __import__ with a literal name count;
    top-level means outside every function body (a module-level ``try`` or ``if`` is top-level too).
    """
    package = name if is_package else name.rsplit(".", 1)[0]
    tree = ast.parse(source)
    dynamic = _DynamicImports(tree, name, package)
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):  # the body, not the defaults
            body = node.body if isinstance(node.body, list) else [node.body]
            in_function |= {id(inner) for stmt in body for inner in ast.walk(stmt)}
    for node in ast.walk(tree):
        top = id(node) not in in_function
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, top
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(package, node.level, node.module) if node.level else node.module
            for alias in node.names:
                yield _module_or_parent(mod, alias.name), top
        elif isinstance(node, ast.Call):
            for mod in dynamic.modules(node):
                yield mod, top


@functools.cache
def _imports(source: str, name: str, is_package: bool) -> tuple:
    """imports_of, remembered: most tests plant a line in one module and check all of them again."""
    return tuple(imports_of(source, name, is_package))


def sources():
    """{module name: (source, is a package)} for every module of kdbound."""
    return {module_name(path): (path.read_text(), path.name == "__init__.py") for path in ROOT.rglob("*.py")}


def graph(modules=None):
    """{module: the kdbound modules it imports} over ``modules`` (default: kdbound's own sources)."""
    modules = sources() if modules is None else modules
    return {name: {m for m, _ in _imports(src, name, pkg) if m.split(".")[0] == "kdbound"}
            for name, (src, pkg) in modules.items()}


def layer(mod: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for prefix in names:
            if mod == prefix or mod.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    assert best is not None, f"{mod} is in no layer of docs/architecture.md"
    return best[0]


def upward_imports(g):
    return [(a, b) for a, deps in g.items() for b in deps if b != a and layer(b) > layer(a)]


def heavy_violations(modules=None):
    """Every import of a heavy library outside its home, or at module level where that is not allowed."""
    modules = sources() if modules is None else modules
    found = []
    for mod, (src, pkg) in modules.items():
        for imported, top_level in _imports(src, mod, pkg):
            lib = imported.split(".")[0]
            if lib in HEAVY and mod not in HEAVY_HOMES[lib]:
                found.append(f"{mod} imports {imported}")
            elif lib in HEAVY and top_level and mod not in HEAVY_AT_TOP:
                found.append(f"{mod} imports {imported} at module level")
            elif imported in HEAVY_AT_TOP and top_level and mod not in HEAVY_AT_TOP:
                found.append(f"{mod} imports {imported} at module level: {HEAVY_AT_TOP[imported]}")
    return found


def test_imports_flow_one_way_and_have_no_cycle():
    g = graph()
    upward = upward_imports(g)
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
    assert heavy_violations() == []


PLANTED = "kdbound.engine.bounds"  # an engine module: it may import neither the CLI nor a heavy library at its top


@pytest.mark.parametrize("planted, imported", [
    ('import importlib\ndef f():\n    importlib.import_module("kdbound.cli.main")\n', "kdbound.cli.main"),
    ('import importlib as il\ndef f():\n    il.import_module("kdbound.cli.main")\n', "kdbound.cli.main"),
    ('from importlib import import_module as load\nload("kdbound.render")\n', "kdbound.render"),
    ('import importlib\nimportlib.import_module("..cli.app", __package__)\n', "kdbound.cli.app"),
    ('import importlib\nimportlib.import_module("..cli", package="kdbound.engine")\n', "kdbound.cli"),
    ('import importlib\nimportlib.import_module(".io", "kdbound")\n', "kdbound.io"),
    ('def f():\n    return __import__("kdbound.cli.app")\n', "kdbound.cli.app"),
    ('__import__("kdbound.io", fromlist=["table_read"])\n', "kdbound.io.table_read"),
    ('def f():\n    __import__("cli.run", globals(), None, ["run"], 2)\n', "kdbound.cli.run"),
    ('import builtins\nbuiltins.__import__("kdbound.render.plot")\n', "kdbound.render.plot"),
    ('import builtins as b\nb.__import__("kdbound.render")\n', "kdbound.render"),
    ('import importlib.util\nimportlib.import_module("kdbound.io")\n', "kdbound.io"),
    ('from builtins import __import__ as imp\nimp("kdbound.cli")\n', "kdbound.cli"),
])
def test_a_dynamic_import_up_a_layer_is_caught(planted, imported):
    modules = sources()
    src, pkg = modules[PLANTED]
    assert upward_imports(graph({PLANTED: (src, pkg)})) == []  # the real module is clean
    modules[PLANTED] = (src + "\n" + planted, pkg)
    assert (PLANTED, imported) in upward_imports(graph(modules))


@pytest.mark.parametrize("module, planted, found", [
    (PLANTED, 'import importlib\npa = importlib.import_module("pyarrow")\n', "imports pyarrow"),
    (PLANTED, 'def f():\n    return __import__("rich")\n', "imports rich"),
    # scipy's home, but only inside functions: a module-level try is module level
    ("kdbound.engine.sim_draw", 'import importlib\ntry:\n    sp = importlib.import_module("scipy.special")\n'
     'except ImportError:\n    sp = None\n', "imports scipy.special at module level"),
])
def test_a_dynamic_heavy_import_is_caught(module, planted, found):
    src, pkg = sources()[module]
    assert heavy_violations({module: (src, pkg)}) == []
    assert heavy_violations({module: (src + "\n" + planted, pkg)}) == [f"{module} {found}"]


@pytest.mark.parametrize("planted", [
    'import importlib\ndef f(name):\n    importlib.import_module(name)\n',
    'def f(name):\n    __import__(f"kdbound.{name}")\n',
    'import importlib\ndef f(p):\n    importlib.import_module(".cli", p)\n',
    'def f(n):\n    __import__("cli", globals(), None, [], n)\n',
])
def test_a_computed_module_name_is_refused(planted):
    with pytest.raises(AssertionError, match="computed name|package must be|computed level"):
        list(imports_of(planted, PLANTED))


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


def _functions(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{module_name(path)}.{node.name}", node


@pytest.mark.parametrize("package", ["engine", "cli", "render", "io"])
def test_functions_are_at_most_80_lines(package):
    """Decorators excluded, the def line and docstring included."""
    long = [(name, node.end_lineno - node.lineno + 1) for name, node in _functions(package)
            if node.end_lineno - node.lineno + 1 > 80]
    assert long == []


def test_commands_leave_the_words_to_render():
    """A cli module builds no Report and no Check and appends no note: render/explain*.py does."""
    found = []
    for path in sorted((ROOT / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if called in ("Report", "Check") or owner in ("Check", "notes", "checks", "labels"):
                found.append(f"{module_name(path)}:{node.lineno} {ast.unparse(func)}")
    assert found == []


# distill's command module (issue 18) sits in the layer of the other command modules: below cli.app,
# which imports it inside distill's command function
LAYERS[[i for i, names in enumerate(LAYERS) if "kdbound.cli.estimate" in names][0]] += ("kdbound.cli.distill",)
