"""No two modules of src/shopseq import each other, directly or around a loop.

A circle makes a package's layers unreadable (which one is below?) and breaks at import time as
soon as someone moves an import to module level. The check reads the source with `ast` (nothing
is imported), counts lazy imports inside functions and `TYPE_CHECKING` blocks too, and treats a
module importing its own package's face (`__init__`) as no circle.
"""

from __future__ import annotations

from pathlib import Path

from import_graph import SRC, circles, import_edges, module_files


def test_shopseq_has_no_import_circle() -> None:
    modules = module_files(SRC, "shopseq")
    assert len(modules) > 50, f"found only {len(modules)} modules under {SRC / 'shopseq'}"
    found = circles(import_edges(modules))
    assert not found, "import circles (each group imports itself around a loop):\n" + "\n".join(
        " <-> ".join(group) for group in found
    )


def test_the_check_finds_a_circle_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.low import x\n")
    (package / "sub" / "low.py").write_text("x = 1\n")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from .c import g\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg.sub import x\nfrom pkg import a\n")
    found = circles(import_edges(module_files(tmp_path, "pkg")))
    assert found == [["pkg.a", "pkg.b", "pkg.c"]]  # the face import in sub/ and d -> a are no circle
