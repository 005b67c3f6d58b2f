"""Check the shape docs/architecture.md promises: no module over 350 lines, no function over 50.

Run by ``make lint`` as ``python -m tools.code_shape process_memory``; prints each offender and exits 1.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 50


def offenders(root: Path) -> list[str]:
    """Return one line for each module or function under ``root`` that is too long."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{path}:{node.lineno}: {node.name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    return found


def main(argv: list[str]) -> int:
    """Check each folder named on the command line."""
    found = [line for folder in argv for line in offenders(Path(folder))]
    print(
        "\n".join(found) or f"every module within {MAX_MODULE_LINES} lines, every function within {MAX_FUNCTION_LINES}"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
