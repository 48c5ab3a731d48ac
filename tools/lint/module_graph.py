#!/usr/bin/env python3
"""Fails when the modules under src/ import each other in a cycle.

Each file is a module (src/redact/json.rs is `redact::json`, src/redact/mod.rs is `redact`);
a reference `crate::a::b::...` (in a `use` or inline) or `super::x` outside #[cfg(test)] is an
edge to the longest module path it names. A cycle means shared vocabulary lives inside one of
its users: move it to a module of its own.

Usage: module_graph.py <src dir>      prints the graph's size, or the cycles (exit 1)
       module_graph.py --self-test
"""
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
    found = cycles(edges)
    for component in found:
        members = set(component)
        links = [f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in members]
        print(f"import cycle between {', '.join(component)}: {'; '.join(links)}")
    if not found:
        print(f"{src}: {len(edges)} modules, {sum(map(len, edges.values()))} imports, no cycle")
    return 1 if found else 0


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
    print("module_graph self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    elif len(sys.argv) == 2:
        sys.exit(report(sys.argv[1]))
    else:
        raise SystemExit(__doc__)
