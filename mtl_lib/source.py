"""The code behind an equation: a builder's or a layer's source, ready to print.

print(mtl.source.listing(mtl.models.build_esmm_chain))
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path


def listing(obj: object, *, method: str | None = None, docstring: bool = False) -> str:
    """The source of a function or class of `mtl_lib`, headed by its file and lines.

    Args:
        obj: A function or class, e.g. `mtl.models.build_esmm`; a `functools.partial`
            lists the function it wraps.
        method: For a class, list only this method (e.g. `"call"`).
        docstring: Keep the docstring (default: drop it; the notebook's text explains).

    Returns:
        `# mtl_lib/models/esmm.py, lines 62-101` then the code, dedented.
    """
    obj = getattr(obj, "func", obj)  # functools.partial
    if method is not None:
        if not inspect.isclass(obj) or method not in vars(obj):
            raise ValueError(f"{obj!r} has no method {method!r} of its own")
        obj = vars(obj)[method]
    lines, first = inspect.getsourcelines(obj)
    code = textwrap.dedent("".join(lines))
    if not docstring:
        code = _without_docstring(code)
    path = Path(inspect.getsourcefile(obj)).resolve()
    root = Path(__file__).resolve().parent.parent
    shown = path.relative_to(root) if path.is_relative_to(root) else path.name
    return f"# {shown}, lines {first}-{first + len(lines) - 1}\n{code.rstrip()}"


def _without_docstring(code: str) -> str:
    """`code` (one def or class) without its docstring's lines."""
    node = ast.parse(code).body[0]
    first = node.body[0] if node.body else None
    is_doc = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if not is_doc:
        return code
    lines = code.splitlines(keepends=True)
    return "".join(lines[: first.lineno - 1] + lines[first.end_lineno :])
