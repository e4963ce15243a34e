"""The runnable examples in the package's docstrings (kornia-style ``Example:`` blocks) run and print what they
show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import defmo


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(defmo.__path__, "defmo."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if any(test.examples for test in doctest.DocTestFinder().find(module)):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
