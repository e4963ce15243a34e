"""The errors a user reads never tell them to delete or remove their files (the tools rewrite what they wrote,
and say how), and say what to do."""

from __future__ import annotations

import ast


def _error_texts(path):
    """The literal text of every ``...Error(...)`` raised with a message in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")).endswith("Error"):
            parts = [n.value for arg in node.args for n in ast.walk(arg)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            if parts:
                yield node.lineno, " ".join(parts)


def test_no_error_tells_a_user_to_delete_a_file(repo):
    bad = [f"{p.relative_to(repo)}:{line}: {text}" for p in sorted((repo / "src" / "defmo").rglob("*.py"))
           for line, text in _error_texts(p)
           if any(word in text.lower() for word in ("delete", "remove it", "rm -"))]
    assert not bad, "\n".join(bad)
