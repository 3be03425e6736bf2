#!/usr/bin/env python3
"""Refuses module cycles inside a crate.

For each crate's `src/`, every module (a file `x.rs` or a folder `x/` with
`mod.rs` or `x.rs` beside it) depends on the sibling modules its code names
through `crate::…` (top level) or `super::…` (inside a folder). Within every
folder (the crate root included) the sibling dependency graph must be
acyclic: a cycle means two modules that can only be understood together.

Test code is left out: `tests.rs`, `tests/` folders, and everything in a file
after its `#[cfg(test)]` module.

Usage: module-cycles.py CRATE_SRC... ; exits 1 and prints each cycle found.
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def code_of(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    # Drop the unit-test module and everything after it.
    m = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*(pub(\([^)]*\))?\s+)?mod\s", text, re.M)
    if m:
        text = text[: m.start()]
    # Drop comments (line and doc comments; block comments are rare here).
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # Drop string literals so `"crate::x"` in a message is not an edge.
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def brace_items(text: str, start: int) -> list[str]:
    """The top-level comma-separated items of the `{…}` opening at start."""
    depth, items, cur = 0, [], []
    for ch in text[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                items.append("".join(cur))
                break
        if depth == 1 and ch == ",":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    return [i.strip() for i in items if i.strip()]


def first_segments(text: str, prefix: str) -> set[str]:
    """First path segments after every `prefix::` in text (prefix = crate/super)."""
    out = set()
    for m in re.finditer(rf"(?<![A-Za-z0-9_:]){re.escape(prefix)}::", text):
        rest = text[m.end():]
        if rest.startswith("{"):
            for item in brace_items(text, m.end()):
                seg = re.match(IDENT, item)
                if seg and seg.group(0) not in ("self", "super"):
                    out.add(seg.group(0))
        elif rest.startswith("super::"):
            continue  # super::super — counted at the level above, rare
        else:
            seg = re.match(IDENT, rest)
            if seg:
                out.add(seg.group(0))
    return out


def test_only_modules(folder: Path) -> set[str]:
    """Names of modules declared `#[cfg(test)] mod x;` by files of this folder or its owner."""
    owners = list(folder.glob("*.rs")) + [folder.with_suffix(".rs")]
    names = set()
    for f in owners:
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            names |= set(re.findall(rf"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+({IDENT})\s*;", text))
    return names


def module_files(folder: Path) -> dict[str, list[Path]]:
    """Sibling modules of one folder → every source file belonging to each."""
    mods: dict[str, list[Path]] = {}
    test_only = test_only_modules(folder)
    for entry in sorted(folder.iterdir()):
        if entry.name in ("tests", "tests.rs", "main.rs", "lib.rs", "mod.rs"):
            continue
        if entry.stem in test_only:
            continue
        if entry.is_file() and entry.suffix == ".rs":
            mods.setdefault(entry.stem, []).append(entry)
        elif entry.is_dir():
            mods.setdefault(entry.name, []).extend(sources_below(entry))
    return mods


def sources_below(folder: Path) -> list[Path]:
    """Every non-test source file of a folder module, recursively."""
    files = []
    test_only = test_only_modules(folder)
    for entry in sorted(folder.iterdir()):
        if entry.name in ("tests", "tests.rs") or entry.stem in test_only:
            continue
        if entry.is_file() and entry.suffix == ".rs":
            files.append(entry)
        elif entry.is_dir():
            files += sources_below(entry)
    return files


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_folder(folder: Path, top: bool, path: tuple[str, ...] = ()) -> list[str]:
    problems = []
    mods = module_files(folder)
    graph: dict[str, set[str]] = {}
    for name, files in mods.items():
        deps = set()
        for f in files:
            text = code_of(f)
            if top:
                deps |= first_segments(text, "crate")
                # `super::x` in a top-level file (x.rs or x/mod.rs) is the crate root.
                if f.parent == folder or f.name == "mod.rs" and f.parent.parent == folder:
                    deps |= first_segments(text, "super")
            else:
                # Inside a folder: `super::x` from a direct child names a sibling.
                if f.parent == folder:
                    deps |= first_segments(text, "super")
                # `crate::a::b::x` names sibling x of the folder a/b.
                deps |= first_segments(text, "crate::" + "::".join(path))
        graph[name] = {d for d in deps if d in mods and d != name}
    for comp in cycles(graph):
        edges = [f"{a} → {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        problems.append(f"{folder}: {' ↔ '.join(comp)} ({'; '.join(edges)})")
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and entry.name != "tests":
            problems += check_folder(entry, top=False, path=path + (entry.name,))
    return problems


def main() -> int:
    problems = []
    for src in sys.argv[1:]:
        problems += check_folder(Path(src), top=True)
    for p in problems:
        print(f"module cycle: {p}")
    if problems:
        print(f"{len(problems)} module cycle(s); see .ci/module-cycles.py for the rule")
        return 1
    print("no module cycles in " + ", ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
