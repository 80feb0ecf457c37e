"""What a flow needs to log a strategy as an MLflow models-from-code model.

No tracking calls here (flows/ log). A version is logged as ONE file that imports only
third-party packages: the strategy's file with the repo modules it imports (generic machinery
under ``models/``) bundled in front of it, so each version carries its own feature code and
loads under a fresh module name, whatever the worker's copy of the repo says. The strategy
writes its artifacts (no pickle); ``model_digest`` is what registration records and the
worker recomputes before loading.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any

from models.strategy import Fitted, Strategy

# Top-level packages of this repo: a logged model must not import any of them.
FIRST_PARTY: frozenset[str] = frozenset(
    {"models", "data_contracts", "serving", "flows", "bench", "tests"}
)
# The one package whose modules may be bundled into a strategy's file.
BUNDLED_PACKAGE = "models"


@dataclass(frozen=True)
class _Module:
    """One source file of a bundle: its lines, what it defines, and what it imports of ours."""

    label: str
    lines: list[str]
    dropped: frozenset[int]  # 1-based line numbers left out of the bundle
    docstring: tuple[int, int] | None  # its line span
    imports: dict[str, tuple[str, ...]]  # bundled module -> names imported from it
    defines: dict[str, str]  # top-level name -> what binds it (to spot clashes)


def _is_first_party(module: str) -> bool:
    return module.split(".")[0] in FIRST_PARTY


def _binding(node: ast.stmt) -> dict[str, str]:
    """Top-level names a statement binds, each with a key saying what it binds them to."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        where = node.module if isinstance(node, ast.ImportFrom) else ""
        return {(a.asname or a.name.split(".")[0]): f"import {where}:{a.name}" for a in node.names}
    names: list[str] = []
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        names = [node.name]
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return dict.fromkeys(names, ast.dump(node))


def _read(path: Path, label: str) -> _Module:
    text = path.read_text()
    tree = ast.parse(text, filename=label)
    dropped: set[int] = set()
    imports: dict[str, tuple[str, ...]] = {}
    defines: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_is_first_party(a.name) for a in node.names):
            raise ValueError(f"{label}:{node.lineno}: write `from <module> import <names>`")
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level or (_is_first_party(module) and node not in tree.body):
            raise ValueError(f"{label}:{node.lineno}: only top-level absolute imports bundle")
        if module == "__future__" or _is_first_party(module):
            dropped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if _is_first_party(module):
            if module.split(".")[0] != BUNDLED_PACKAGE or any(a.asname for a in node.names):
                raise ValueError(f"{label}:{node.lineno}: cannot bundle `from {module} import`")
            imports[module] = imports.get(module, ()) + tuple(a.name for a in node.names)
    for node in tree.body:
        if node.lineno not in dropped:
            defines.update(_binding(node))
    docstring = None
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        docstring = (first.lineno, first.end_lineno or first.lineno)
    return _Module(label, text.splitlines(), frozenset(dropped), docstring, imports, defines)


def _collect(name: str, path: Path, done: dict[str, _Module], visiting: list[str]) -> None:
    """``done`` gains ``name``'s bundled imports (transitively), then ``name``."""
    if name in done:
        return
    if name in visiting:
        raise ValueError(f"import cycle: {' -> '.join([*visiting, name])}")
    visiting.append(name)
    module = _read(path, name)
    for dependency, names in module.imports.items():
        spec = importlib.util.find_spec(dependency)
        if spec is None or spec.origin is None:
            raise ValueError(f"{name} imports {dependency}, which has no source file")
        _collect(dependency, Path(spec.origin), done, visiting)
        missing = set(names) - set(done[dependency].defines)
        if missing:
            raise ValueError(f"{name} imports {sorted(missing)} that {dependency} does not define")
    visiting.pop()
    done[name] = module


def bundle_source(strategy: Strategy) -> str:
    """The strategy's file as one module: every ``models`` module it imports (transitively)
    in front of it, dependencies first, each once, with the repo imports and ``__future__``
    lines dropped (one ``from __future__ import annotations`` heads the bundle, after the
    strategy's docstring). The text holds no absolute path, so the same code bundles to the
    same bytes on any machine.

    Raises:
        ValueError: a repo import that cannot be bundled (``import models.x``, a relative or
            aliased import, one inside a function, a package other than ``models``), a name
            two modules bind differently, an import cycle, or a bundle that still imports a
            repo package.
    """
    modules: dict[str, _Module] = {}
    _collect(strategy.name, strategy.source, modules, [])
    owners: dict[str, tuple[str, str]] = {}
    for module in modules.values():
        for name, binding in module.defines.items():
            owner = owners.setdefault(name, (module.label, binding))
            if owner[1] != binding:
                raise ValueError(f"{name!r} is bound differently in {owner[0]} and {module.label}")
    main = modules[strategy.name]
    head = main.lines[main.docstring[0] - 1 : main.docstring[1]] if main.docstring else []
    out = [*head, f"# Bundled from {', '.join(modules)} by models.packaging: edit those files."]
    out.append("from __future__ import annotations")
    for module in modules.values():
        skip = set(module.dropped)
        if module is main and main.docstring:
            skip.update(range(main.docstring[0], main.docstring[1] + 1))
        out += ["", "", f"# ---- {module.label} " + "-" * (80 - len(module.label))]
        out += [line for i, line in enumerate(module.lines, 1) if i not in skip]
    text = "\n".join(out).rstrip() + "\n"
    ours = {name for name in imported_modules(text) if _is_first_party(name) or not name}
    if ours:
        raise ValueError(f"the bundle of {strategy.name} still imports {sorted(ours)}")
    return text


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module ``source`` imports, anywhere ('' for relative ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("" if node.level else (node.module or "").split(".")[0])
    return found


def third_party(modules: Iterable[str]) -> list[str]:
    """The modules that are neither the standard library nor ``__future__``, sorted."""
    return sorted(set(modules) - set(sys.stdlib_module_names) - {"__future__"})


def pip_requirements(packages: Iterable[str]) -> list[str]:
    """Pinned requirements for imported package names, from the installed versions."""
    provided_by: Mapping[str, list[str]] | None = None
    pins = []
    for name in sorted(set(packages)):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            provided_by = provided_by or packages_distributions()
            dists = provided_by.get(name)
            if not dists:
                raise ValueError(f"no installed distribution provides {name!r}") from None
            dist = dists[0]
            pins.append(f"{dist}=={version(dist)}")
    return pins


def conda_environment(pins: Sequence[str], python: str) -> dict[str, Any]:
    """The model's ``conda.yaml`` with ``pins`` as its pip section, given whole to MLflow.

    Why not ``pip_requirements=``: MLflow then builds this file itself and, in a venv without
    pip (uv makes those), warns "Failed to resolve installed pip version" on every logged model.
    Given the environment, it writes it as is and ``requirements.txt`` holds the same pins.
    """
    return {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": list(pins)}],
    }


def log_model_kwargs(
    strategy: Strategy,
    booster: Fitted,
    config: Mapping[str, Any],
    directory: Path,
    *,
    name: str = "model",
) -> dict[str, Any]:
    """Keyword arguments for ``mlflow.pyfunc.log_model(**kwargs)`` (models-from-code): the
    bundle written to ``directory/<strategy name>.py`` beside the strategy's artifacts, and
    requirements pinned for exactly the packages the bundle imports."""
    source = bundle_source(strategy)
    directory.mkdir(parents=True, exist_ok=True)
    code = directory / f"{strategy.name}.py"
    code.write_text(source)
    return {
        "name": name,
        "python_model": str(code),
        "artifacts": strategy.write_artifacts(booster, config, directory),
        "signature": strategy.signature,
        "input_example": strategy.input_example(),
        "conda_env": conda_environment(
            pip_requirements(third_party(imported_modules(source))), platform.python_version()
        ),
    }


DIGEST_TAG = "tate.model_sha256"
# Written by MLflow into a registry download, not part of what was logged.
NOT_DIGESTED: frozenset[str] = frozenset({"registered_model_meta"})


def model_digest(directory: Path) -> str:
    """sha256 over every file of a logged model (relative path and content, sorted).

    Registration records it as the version tag ``tate.model_sha256``; the worker recomputes it
    on the downloaded copy before loading, so a flipped byte in the bundled strategy code, the
    booster or the MLmodel file is refused, not traded.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name not in NOT_DIGESTED)
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
