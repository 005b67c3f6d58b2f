"""Write the score of the last `mutmut run` and its surviving mutants into docs/testing.md.

Reads mutmut's per-file results (``mutants/**/*.py.meta``) and replaces the part of the page between
the two report markers, so the rest of the page stays as written.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

BEGIN, END = "<!-- mutation report: begin -->", "<!-- mutation report: end -->"
#: What counts as a detected mutant: a test failed, mypy refused it, or it hung past the time limit.
DETECTED = {"killed", "caught by type check", "timeout"}


def results(mutants: Path) -> dict[str, dict[str, str]]:
    """Return each module's mutants and their status."""
    by_module: dict[str, dict[str, str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        by_module[module] = {name: status_by_exit_code[code] for name, code in exit_codes.items()}
    return by_module


def changed_line(name: str, module: str) -> str:
    """The first line the mutant puts in place, from the diff `mutmut show` prints."""
    diff = get_diff_for_mutant(name, path=Path(module))
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else "?"


def report(by_module: dict[str, dict[str, str]]) -> str:
    """Render the score table and the survivors as Markdown."""
    lines = [
        "| module | mutants | detected | survived | no test | not run | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total: Counter[str] = Counter()
    survivors: list[tuple[str, str]] = []
    for module, statuses in by_module.items():
        counts = Counter("detected" if s in DETECTED else s for s in statuses.values())
        total.update(counts)
        total["mutants"] += len(statuses)
        lines.append(_row(module, len(statuses), counts))
        survivors += [(name, module) for name, status in statuses.items() if status in ("survived", "no tests")]
    lines.append(_row("**all**", total["mutants"], total))
    lines += ["", f"Surviving mutants ({len(survivors)}), each with the line it puts in place:", ""]
    lines += [f"- `{name.split('.', 2)[-1]}`: `{changed_line(name, module)}`" for name, module in survivors]
    return "\n".join(lines)


def _row(module: str, mutants: int, counts: Counter[str]) -> str:
    run = mutants - counts["not checked"]
    score = f"{100 * counts['detected'] / run:.1f}%" if run else "-"
    return (
        f"| {module} | {mutants} | {counts['detected']} | {counts['survived']} | {counts['no tests']} "
        f"| {counts['not checked']} | {score} |"
    )


def main() -> None:
    """Replace the report in the page named on the command line."""
    page = Path(sys.argv[1])
    text = page.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    page.write_text(f"{head}{BEGIN}\n{report(results(Path('mutants')))}\n{END}{tail}")


if __name__ == "__main__":
    main()
