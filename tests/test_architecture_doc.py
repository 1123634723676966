"""docs/architecture.md lists every module of the package (so it stays a true map)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_module_is_listed() -> None:
    listed = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = REPO / "chatroom"
    modules = [
        path.relative_to(package).as_posix()
        for path in sorted(package.rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py")
    ]
    assert modules, "no modules found"
    assert [m for m in modules if f"`{m}`" not in listed] == []
