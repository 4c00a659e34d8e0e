"""The house rules of the layout, checked on the source: wings import only the wings below them (core
<- data <- learning <- serving <- evaluation <- commands), no import cycle, the library never imports
``pipelines``, command modules load TensorFlow only inside ``main``, every library module has its
test module, no module over 300 lines without a reason at its top, and the README's layout section
is what ``.ci/layout.py`` generates."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".ci"))
import layout  # noqa: E402  (.ci/layout.py)

# Rank of every part of the code: an import may only go to an equal or lower rank.
WINGS = {"core": 0, "data": 1, "learning": 2, "serving": 3, "evaluation": 4}
PIPELINES_LIBRARY = 1.5            # pipelines/ writes the data wing's clips with the core's geometry
COMMAND = 5
PIPELINES_COMMANDS = {"pipelines.build", "pipelines.export_gt_depth"}
LONG_MODULE_LINES = 300
LONG_MODULE_REASON = "Longer than 300 lines because"


def _module_name(path: str) -> str:
    relative = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def _sources(*folders: str) -> dict[str, str]:
    found = {}
    for folder in folders:
        for directory, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                if name.endswith(".py"):
                    found[_module_name(os.path.join(directory, name))] = os.path.join(directory, name)
    return found


LIBRARY = _sources("ddvo_tf", "pipelines")


def rank(module: str) -> float:
    parts = module.split(".")
    if parts[0] == "pipelines":
        return COMMAND if module in PIPELINES_COMMANDS else PIPELINES_LIBRARY
    if len(parts) >= 2 and parts[1] in WINGS:
        return WINGS[parts[1]]
    return COMMAND                 # ddvo_tf/*.py: the commands and what they share (cli.py)


def imports(path: str, package: str) -> set[str]:
    """Every project module ``path`` imports, at its top or inside functions."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # "from ddvo_tf.core import geometry" imports the module ddvo_tf.core.geometry
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in LIBRARY else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in ("ddvo_tf", "pipelines"))
    return {name for name in found if name in LIBRARY}


GRAPH = {module: imports(path, module if path.endswith("__init__.py") else module.rsplit(".", 1)[0])
         for module, path in LIBRARY.items()}


def test_the_graph_sees_the_imports():
    """The checker itself: it finds imports at the top, inside functions and of sibling modules."""
    assert "ddvo_tf.core.ddvo_solver" in GRAPH["ddvo_tf.core.ddvo_layer"]
    assert "ddvo_tf.learning.training" in GRAPH["ddvo_tf.train"]          # inside main()
    assert "ddvo_tf.data.records" in GRAPH["pipelines.clips"]
    assert rank("ddvo_tf.core.geometry") < rank("ddvo_tf.data.reader") < rank("ddvo_tf.learning.learner")
    assert rank("ddvo_tf.serving.export") < rank("ddvo_tf.evaluation.eigen") < rank("ddvo_tf.evaluate")


def test_no_wing_imports_a_higher_one():
    upward = [f"{module} -> {target}" for module, targets in GRAPH.items() for target in targets
              if rank(target) > rank(module)]
    assert not upward, "imports against the wing order:\n" + "\n".join(sorted(upward))


def test_the_library_never_imports_pipelines():
    wrong = [f"{module} -> {target}" for module, targets in GRAPH.items() if rank(module) < COMMAND
             and module.startswith("ddvo_tf") for target in targets if target.startswith("pipelines")]
    assert not wrong, wrong


def test_no_import_cycle():
    state, cycle = {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycle.append(path[path.index(target):] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    # A package's __init__ importing its own modules would show up as package -> module -> package.
    assert not cycle, cycle


COMMANDS = sorted(m for m in LIBRARY if rank(m) == COMMAND and m not in ("ddvo_tf", "ddvo_tf.cli"))


@pytest.mark.parametrize("module", COMMANDS)
def test_a_command_module_imports_without_tensorflow(module):
    """So that ddvo_tf.cli.command filters TensorFlow's native log lines from its very first one, for
    `python -m` and the installed console scripts alike."""
    code = f"import sys, {module}; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "False", (module, result.stderr[-1500:])


def test_every_console_script_names_a_command_entry_point():
    import configparser
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    scripts = [line.split("=") for line in config["options.entry_points"]["console_scripts"].strip().splitlines()]
    targets = {name.strip(): target.strip() for name, target in scripts}
    assert {"ddvo-train", "ddvo-export", "ddvo-predict", "ddvo-evaluate", "ddvo-build"} <= set(targets)
    for name, target in targets.items():
        module, function = target.split(":")
        assert module in COMMANDS and function == "console_main", (name, target)
        with open(LIBRARY[module]) as handle:
            assert "def console_main()" in handle.read(), target


def test_an_installed_console_script_runs():
    """The scripts exist once the package is installed as the README says (pip install -e .)."""
    script = os.path.join(os.path.dirname(sys.executable), "ddvo-export")
    assert os.path.isfile(script), f"{script} missing: install the package as the README says (pip install -e .)"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "--model_dir" in result.stdout, result.stderr[-1500:]


@pytest.mark.parametrize("module, path", sorted(_sources("ddvo_tf", "pipelines", "bench", "tests", ".ci").items()))
def test_a_long_module_says_why_at_its_top(module, path):
    with open(path) as handle:
        text = handle.read()
    lines = text.count("\n")
    if lines > LONG_MODULE_LINES:
        assert LONG_MODULE_REASON in (ast.get_docstring(ast.parse(text)) or ""), (
            f"{path} has {lines} lines: split it, or say '{LONG_MODULE_REASON} ...' in its docstring")


def test_the_readmes_layout_section_is_generated_from_the_tree():
    with open(os.path.join(ROOT, "README.md")) as handle:
        section = layout.readme_section(handle.read())
    assert section == layout.layout(), "README.md's layout is stale: run python .ci/layout.py --write"


@pytest.mark.parametrize("module", sorted(m for m in LIBRARY if m.startswith("ddvo_tf.") and rank(m) < COMMAND
                                          and not LIBRARY[m].endswith("__init__.py")))
def test_every_library_module_has_its_test_module(module):
    _, wing, name = module.split(".")
    assert os.path.isfile(os.path.join(ROOT, "tests", wing, f"test_{name}.py")), f"tests/{wing}/test_{name}.py"
