"""dvc.yaml names, for each stage, the shopseq code that stage runs: its packages, not picked files.

A stage whose deps miss a module it imports does not rerun when that module changes, so `dvc
repro` keeps outputs made by old code and calls them current. The stage's code is derived here
from its source: every shopseq module `shopseq.stages.<stage>` imports, transitively, lazy imports
included, with the package faces Python runs on the way (tests/import_graph.py). A folder dep
covers every module under it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from import_graph import SRC, import_edges, imported_by, module_files

ROOT = SRC.parent
PACKAGE = SRC / "shopseq"
# Faces that import nothing a stage runs: the version string, and the stage order in PIPELINE.
NOT_CODE_OF_A_STAGE = {"shopseq", "shopseq.stages"}
MODULES = module_files(SRC, "shopseq")
EDGES = import_edges(MODULES)
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def code_deps(stage: str) -> list[Path]:
    """The deps of `stage` in dvc.yaml that are shopseq source, as absolute paths."""
    deps = [ROOT / dep for dep in STAGES[stage].get("deps", []) if dep.startswith("src/")]
    return [dep.resolve() for dep in deps]


def uncovered(files: dict[str, Path], deps: list[Path]) -> list[str]:
    """The names in `files` whose file is neither a dep nor under a folder dep."""
    return sorted(name for name, path in files.items() if not any(path == dep or dep in path.parents for dep in deps))


def stage_code(stage: str) -> dict[str, Path]:
    """Module name -> file for every shopseq module that `shopseq run <stage>` runs."""
    names = imported_by(EDGES, f"shopseq.stages.{stage}") - NOT_CODE_OF_A_STAGE
    return {name: MODULES[name] for name in names}


def is_package_or_module(dep: Path) -> bool:
    """A dep names a subpackage folder, a top-level module, or a stage module; not a picked file."""
    parts = dep.relative_to(PACKAGE).parts
    return len(parts) == 1 or (len(parts) == 2 and parts[0] == "stages")


def test_every_stage_module_has_a_dvc_stage() -> None:
    stage_modules = {name.rpartition(".")[2] for name in MODULES if name.startswith("shopseq.stages.")}
    assert stage_modules == set(STAGES)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_depends_on_all_the_code_it_runs(stage: str) -> None:
    missing = uncovered(stage_code(stage), code_deps(stage))
    assert not missing, (
        f"dvc.yaml stage {stage!r} runs these modules but does not depend on them, so a change "
        f"there would not rerun it; add their package folders to its deps: {missing}"
    )


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_depends_only_on_packages_it_runs(stage: str) -> None:
    runs = stage_code(stage)
    for dep in code_deps(stage):
        where = f"dvc.yaml stage {stage!r} dep {dep.relative_to(ROOT)}"
        assert dep.exists(), f"{where} does not exist (moved or renamed?)"
        assert PACKAGE in dep.parents, f"{where} is outside src/shopseq"
        assert is_package_or_module(dep), f"{where} picks a file: name its package folder"
        assert len(uncovered(runs, [dep])) < len(runs), f"{where}: the stage imports nothing there"


def test_a_folder_dep_covers_the_modules_under_it(tmp_path: Path) -> None:
    files = {"pkg.a.x": tmp_path / "a" / "x.py", "pkg.b": tmp_path / "b.py", "pkg.c.y": tmp_path / "c" / "y.py"}
    assert uncovered(files, [tmp_path / "a", tmp_path / "b.py"]) == ["pkg.c.y"]
    assert uncovered(files, [tmp_path]) == []
