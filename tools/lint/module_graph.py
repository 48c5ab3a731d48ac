#!/usr/bin/env python3
"""Fails when the modules under src/ import each other in a cycle, or the folders do.

Each file is a module (src/redact/json.rs is `redact::json`, src/redact/mod.rs is `redact`);
a reference `crate::a::b::...` (in a `use` or inline) or `super::x` outside #[cfg(test)] is an
edge to the longest module path it names. Modules declared under #[cfg(test)] (a file of
tests) are left out. A cycle means shared vocabulary lives inside one of its users: move it to
a module of its own.

Folders are checked as wholes too: an import from `a::x` to `b::y` is an edge from `a` to `b`
(siblings at the level where the two paths part), so `compare` -> `json_path` -> `redact` ->
`compare` is a cycle even though no file imports its own importer.

Usage: module_graph.py <src dir>      prints the graph's size, or the cycles (exit 1)
       module_graph.py --self-test
"""
import contextlib
import io
import os
import re
import sys
import tempfile

PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")
# `use crate::{a::A, b}` and `use crate::a::{B, c::C}`: the names inside the braces.
USE_GROUP = re.compile(r"\buse\s+crate::((?:[a-z_][a-z0-9_]*::)*)\{([^}]*)\}", re.S)


def modules(src):
    found = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.relpath(os.path.join(folder, name), src)[:-3].split(os.sep)
            if path[-1] == "mod":
                path = path[:-1]
            if path in (["lib"], ["main"]):
                continue
            found["::".join(path)] = os.path.join(folder, name)
    return found


# `#[cfg(test)] mod name;` (attributes between allowed): a module of tests.
TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;")


def test_modules(src, known):
    """The modules declared under #[cfg(test)] by their parents, and everything inside them."""
    found = set()
    parents = dict(known, **{"": os.path.join(src, "lib.rs")})
    for module, file in parents.items():
        if not os.path.exists(file):
            continue
        with open(file, encoding="utf-8") as source:
            text = source.read()
        # A child of `a::b` declared in src/a/b.rs or src/a/b/mod.rs is `a::b::child`.
        for child in TEST_MODULE.findall(text):
            found.add(f"{module}::{child}" if module else child)
    return {m for m in known if any(m == t or m.startswith(t + "::") for t in found)}


def code_of(file):
    """The file's text before its first #[cfg(test)], without line comments."""
    with open(file, encoding="utf-8") as source:
        text = source.read().split("#[cfg(test)]", 1)[0]
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def resolve(names, known):
    """The longest known module path that `names` starts with."""
    for end in range(len(names), 0, -1):
        candidate = "::".join(names[:end])
        if candidate in known:
            return candidate
    return None


def graph(src):
    known = modules(src)
    for module in test_modules(src, known):
        del known[module]
    edges = {module: set() for module in known}
    for module, file in known.items():
        code = code_of(file)
        references = []
        for root, rest in PATH.findall(code):
            names = rest.strip(":").split("::")
            if root == "super":
                # `super` is the parent of the module (of its folder, for a mod.rs).
                own = module.split("::")
                parent = own[:-2] if file.endswith("mod.rs") else own[:-1]
                names = parent + names
            references.append(names)
        for prefix, group in USE_GROUP.findall(code):
            for item in group.split(","):
                item = item.strip()
                if item:
                    references.append([n for n in prefix.split("::") if n] + item.split("::"))
        for names in references:
            target = resolve(names, known)
            if target and target != module:
                edges[module].add(target)
    return edges


def folders(edges):
    """The edges between folders (and top-level files): an import from `a::x` to `b::y` is one
    from `a` to `b`, siblings where the two paths part. A module's import of its own folder's
    `mod.rs` (or of one of its own children) stays inside that folder."""
    between = {}
    for source, targets in edges.items():
        for target in targets:
            a, b = source.split("::"), target.split("::")
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            if common == len(a) or common == len(b):
                continue
            a, b = "::".join(a[: common + 1]), "::".join(b[: common + 1])
            between.setdefault(a, set()).add(b)
            between.setdefault(b, set())
    return between


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for next_node in sorted(edges[node]):
            if next_node not in index:
                visit(next_node)
                low[node] = min(low[node], low[next_node])
            elif next_node in on_stack:
                low[node] = min(low[node], index[next_node])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def report(src):
    edges = graph(src)
    between = folders(edges)
    failed = False
    for kind, graph_of in (("import", edges), ("folder", between)):
        for component in cycles(graph_of):
            failed = True
            members = set(component)
            links = []
            for a in component:
                for b in sorted(graph_of[a]):
                    if b not in members:
                        continue
                    # Which files make a folder's edge: the ones to move or change.
                    by = sorted(
                        f"{x} -> {y}"
                        for x, ys in edges.items()
                        for y in ys
                        if (x == a or x.startswith(a + "::")) and (y == b or y.startswith(b + "::"))
                    )
                    links.append(f"{a} -> {b}" + (f" ({', '.join(by)})" if kind == "folder" else ""))
            print(f"{kind} cycle between {', '.join(component)}: {'; '.join(links)}")
    if not failed:
        print(
            f"{src}: {len(edges)} modules, {sum(map(len, edges.values()))} imports, "
            f"no cycle between modules or between folders"
        )
    return 1 if failed else 0


def self_test():
    with tempfile.TemporaryDirectory() as src:
        os.makedirs(os.path.join(src, "redact"))
        files = {
            "a.rs": "use crate::b::B;\n#[cfg(test)]\nuse crate::c::C;\n",
            "b.rs": "// use crate::a::A;\npub struct B;\n",
            "c.rs": "use crate::a::A;\n",
            "redact/mod.rs": "pub mod json;\n",
            "redact/json.rs": "use crate::{a::A, b};\n",
        }
        for name, text in files.items():
            with open(os.path.join(src, name), "w") as f:
                f.write(text)
        assert cycles(graph(src)) == [], "test code and comments are not imports"
        with open(os.path.join(src, "b.rs"), "a") as f:
            f.write("fn f() { crate::redact::json::g(); }\n")
        assert cycles(graph(src)) == [["a", "b", "redact::json"]], cycles(graph(src))
    with tempfile.TemporaryDirectory() as src:
        # No file imports its importer, but the folders do: config -> compare -> config.
        for folder in ("config", "compare"):
            os.makedirs(os.path.join(src, folder))
        files = {
            "config/mod.rs": "mod compare;\nmod redaction;\n#[cfg(test)]\nmod tests;\n",
            "config/compare.rs": "use crate::compare::spec::Spec;\nuse super::redaction::R;\n",
            "config/redaction.rs": "pub struct R;\n",
            "config/tests.rs": "use crate::compare::report::Report;\n",
            "compare/mod.rs": "pub mod spec;\npub mod report;\n",
            "compare/spec.rs": "pub struct Spec;\n",
            "compare/report.rs": "use super::spec::Spec;\n",
        }
        for name, text in files.items():
            with open(os.path.join(src, name), "w") as f:
                f.write(text)
        edges = graph(src)
        assert "config::tests" not in edges, "a module of tests is not part of the graph"
        assert cycles(edges) == [] and cycles(folders(edges)) == [], folders(edges)
        assert folders(edges) == {
            "config": {"compare"},
            "compare": set(),
            "config::compare": {"config::redaction"},
            "config::redaction": set(),
            "compare::report": {"compare::spec"},
            "compare::spec": set(),
        }, folders(edges)
        with open(os.path.join(src, "compare/report.rs"), "a") as f:
            f.write("fn f() { crate::config::redaction::R; }\n")
        edges = graph(src)
        assert cycles(edges) == [], "no cycle between files"
        assert cycles(folders(edges)) == [["compare", "config"]], cycles(folders(edges))
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            assert report(src) == 1
        assert "folder cycle between compare, config" in printed.getvalue(), printed.getvalue()
    print("module_graph self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    elif len(sys.argv) == 2:
        sys.exit(report(sys.argv[1]))
    else:
        raise SystemExit(__doc__)
