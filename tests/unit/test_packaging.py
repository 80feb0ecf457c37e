"""A strategy is logged as one file that imports only third-party packages: its own file with
the repo modules it imports bundled in, or a clear refusal of what cannot be bundled."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pytest

from models.packaging import bundle_source, log_model_kwargs
from models.strategies.lgbm_momentum import FEATURE_NAMES, STRATEGY

ROOT = Path(__file__).resolve().parents[2]
MODEL_PACKAGES = {"lightgbm", "mlflow", "numpy", "pandas"}


def imports_of(source: str) -> set[str]:
    """Every module a source imports, anywhere in it (relative imports as '.')."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_the_bundle_imports_only_the_standard_library_and_the_model_packages() -> None:
    source = bundle_source(STRATEGY)
    roots = {name.split(".")[0] for name in imports_of(source)}
    assert "" not in roots  # no relative import
    assert roots - set(sys.stdlib_module_names) - {"__future__"} == MODEL_PACKAGES
    assert not roots & {"models", "serving", "flows", "data_contracts", "bench", "tests"}
    last = ast.parse(source).body[-1]
    assert ast.unparse(last).startswith("mlflow.models.set_model(")


def test_the_bundle_carries_the_machinery_and_the_strategy_once_and_no_machine_paths() -> None:
    source = bundle_source(STRATEGY)
    tree = ast.parse(source)
    defined = [n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)]
    for name in ("Rolling", "RollingRows", "RowPredictor", "StreamCache", "FeatureState"):
        assert defined.count(name) == 1, name
    assert ast.get_docstring(tree) == ast.get_docstring(ast.parse(STRATEGY.source.read_text()))
    assert str(ROOT) not in source
    assert bundle_source(STRATEGY) == source


def test_log_model_kwargs_log_the_bundle_pinned_to_what_it_imports(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURE_NAMES)))
    params = {"objective": "binary", "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, rng.integers(0, 2, 200)), num_boost_round=3)
    kwargs = log_model_kwargs(STRATEGY, booster, {"threshold": 0.02}, tmp_path / "staging")
    code = Path(kwargs["python_model"])
    assert code.name == "lgbm_momentum.py"
    assert code.read_text() == bundle_source(STRATEGY)
    pip_section = kwargs["conda_env"]["dependencies"][-1]["pip"]
    assert {pin.split("==")[0] for pin in pip_section} == MODEL_PACKAGES
    assert set(kwargs["artifacts"]) == {"booster", "config"}


def fake_strategy(tmp_path: Path, source: str) -> SimpleNamespace:
    path = tmp_path / "fake.py"
    path.write_text(source)
    return SimpleNamespace(name="fake", source=path)


def test_a_strategy_importing_a_models_module_gets_it_bundled_in(tmp_path: Path) -> None:
    strategy = fake_strategy(tmp_path, "from models.rolling import Rolling\n\nLENGTH = 3\n")
    source = bundle_source(strategy)  # type: ignore[arg-type]
    assert not any(name.startswith("models") for name in imports_of(source))
    assert [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)].count(
        "Rolling"
    ) == 1
    namespace: dict[str, object] = {}
    exec(compile(source, "fake", "exec"), namespace)
    assert namespace["LENGTH"] == 3 and "Rolling" in namespace


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import models.rolling\n", "write `from <module> import <names>`"),
        ("from .rolling import Rolling\n", "only top-level absolute imports"),
        ("def f():\n    from models.rolling import Rolling\n", "only top-level absolute imports"),
        ("from tests.fakes import make_bars\n", "cannot bundle `from tests.fakes import`"),
        ("from models.rolling import Rolling as R\n", "cannot bundle `from models.rolling"),
        ("from models.rolling import Nope\n", r"\['Nope'\] that models.rolling does not define"),
        (
            "from models.rolling import ArrayStats\n\n\nclass Rolling:\n    pass\n",
            "'Rolling' is bound differently in models.rolling and fake",
        ),
    ],
)
def test_what_cannot_be_bundled_is_refused_by_name(
    tmp_path: Path, source: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bundle_source(fake_strategy(tmp_path, source))  # type: ignore[arg-type]
