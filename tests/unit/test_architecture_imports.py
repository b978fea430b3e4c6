"""Production code never imports the mock detector; fitting/physics is a numpy-only leaf.

Walks the AST of every module of conditions/ and fitting/ (outside fitting/toymc and the
study code) and fails on any ``import fitting.toymc`` / ``from fitting.toymc ...``, including
imports inside functions.  The demo (conditions/demo.py) is the one allowed user besides tests
and ``conddb simulate`` (GUIDE section 1).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: modules allowed to use the mock: the mock itself, study code for tests/benchmarks, the demo
ALLOWED = ("fitting/toymc/", "fitting/studies/", "conditions/demo.py")


def imported_modules(path: Path) -> set[str]:
    """Every module name an ``import`` / ``from ... import`` statement of ``path`` names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def production_modules() -> list[Path]:
    files = sorted([*ROOT.glob("conditions/**/*.py"), *ROOT.glob("fitting/**/*.py")])
    return [f for f in files if not str(f.relative_to(ROOT)).startswith(ALLOWED)]


@pytest.mark.parametrize("path", production_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_production_module_imports_the_mock(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path)
                 if m == "fitting.toymc" or m.startswith("fitting.toymc."))
    assert not bad, f"{path.relative_to(ROOT)} imports the mock detector: {bad}"


def test_the_walker_sees_imports_inside_functions(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from fitting.toymc.gammas import GAMMA_SOURCES\n")
    assert "fitting.toymc.gammas" in imported_modules(f)


@pytest.mark.parametrize("path", sorted(ROOT.glob("fitting/physics/*.py")),
                         ids=lambda p: p.name)
def test_physics_is_a_numpy_only_leaf(path: Path) -> None:
    allowed_roots = {"__future__", "numpy", "dataclasses", "collections", "typing", "math",
                     "fitting"}
    for m in imported_modules(path):
        root = m.split(".")[0]
        assert root in allowed_roots, f"{path.name} imports {m}"
        if root == "fitting":
            assert m.startswith("fitting.physics"), f"{path.name} imports {m}"


# --- the repository is the only importer of the ORM model (issue 18 moved the last ones) ----------
#: where the ORM model may be imported: the repository, the model itself and its re-export shim
ORM_OWNERS = ("conditions/db/", "conditions/store/", "conditions/model.py")
ORM_MODULES = ("conditions.db.model", "conditions.model")


def runtime_imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports at run time (relative imports resolved;
    imports under ``if TYPE_CHECKING:`` are type hints and left out)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    hidden = {
        id(n) for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def front_and_service_modules() -> list[Path]:
    files = sorted([*ROOT.glob("conditions/**/*.py"), *ROOT.glob("cli/**/*.py")])
    return [f for f in files if not str(f.relative_to(ROOT)).startswith(ORM_OWNERS)]


@pytest.mark.parametrize(
    "path", front_and_service_modules(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_repository_imports_the_orm_model(path: Path) -> None:
    bad = sorted(m for m in runtime_imports(path) if m.startswith(ORM_MODULES))
    assert not bad, f"{path.relative_to(ROOT)} imports the ORM model: {bad}"


def test_the_orm_walker_resolves_relative_imports() -> None:
    services = ROOT / "conditions" / "services" / "audit.py"
    assert "conditions.store.audit" in runtime_imports(services)
    acks = ROOT / "conditions" / "store" / "drift_acks.py"
    assert "conditions.db.model.DriftAck" in runtime_imports(acks)
