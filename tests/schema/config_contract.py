"""The configuration contract has three faces; this check holds them to one another:
- the parser's known fields, asked of the plugin itself: check-config is given a configuration
  with an unknown field in each object, and the error it prints lists the fields that object
  knows (`unknown field `x`, expected one of `a`, `b``). No source file is read, so the check
  holds however src/config is laid out;
- the JSON Schema's properties (envoy/plugin-config.schema.json);
- the reference table of docs/configuration.md (`| field | default | meaning |`).

They must name the same fields. Where the table states a default (a JSON value in backticks),
the schema's `default` is the same, and a schema `default` is stated in the table. Where the
table states a range (`1 to 10`, `up to 32`), the schema's bounds are the same (`minimum` and
`maximum`, `minItems`/`maxItems`, a string's length) and the parser accepts both ends and
refuses just beyond them; a number's range in the schema is stated in the table.

Usage: config_contract.py <repo root> <check-config binary>
       config_contract.py --self-test <repo root> <check-config binary>
"""

import copy
import json
import os
import re
import subprocess
import sys

PROBE = "zz_contract_probe"
TABLE_HEADER = "| field | default | meaning |"
# Array items the parser accepts, for probing an array's length bounds.
ITEMS = {
    "targets": lambda i: {"cluster": f"c{i}"},
    "targets[].compare.headers": lambda i: f"h{i}",
}


# --- the schema ---------------------------------------------------------------------------

def schema_fields(schema):
    """{path: schema node} of every property, `targets[].cluster` style; objects included."""
    defs = schema.get("$defs", {})
    fields = {}

    def resolve(node):
        while "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
        return node

    def walk(node, prefix):
        node = resolve(node)
        for name, child in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            child = resolve(child)
            fields[path] = child
            walk(child, path + ".")
            items = child.get("items")
            if isinstance(items, dict) and "properties" in resolve(items):
                walk(items, path + "[].")

    walk(schema, "")
    return fields


def schema_objects(fields):
    """Paths of the objects whose fields are named (the root is ""), `match.headers[]` style."""
    objects = [""]
    for path, node in fields.items():
        if "properties" in node:
            objects.append(path)
        if any(other.startswith(path + "[].") for other in fields):
            objects.append(path + "[]")
    return objects


def schema_bounds(node):
    """(low, high) the schema states for a field's value, length or item count."""
    kind = node.get("type")
    if kind in ("number", "integer"):
        return node.get("minimum"), node.get("maximum")
    if kind == "array":
        return node.get("minItems"), node.get("maxItems")
    if kind == "string":
        low, high = node.get("minLength"), node.get("maxLength")
        repeat = re.search(r"\{(\d+),(\d+)\}\$$", node.get("pattern", ""))
        if repeat and low is None and high is None:
            low, high = int(repeat.group(1)), int(repeat.group(2))
        return low, high
    return None, None


# --- the parser ---------------------------------------------------------------------------

def with_value(path, value):
    """A minimal valid configuration with `value` at `path` (a field, or an object + `[]`)."""
    config = {"targets": [{"cluster": "mirror"}]}
    parts = path.split(".")
    holder = config
    for part in parts[:-1]:
        if part.endswith("[]"):
            name = part[:-2]
            holder = holder.setdefault(name, [{}])[0]
        else:
            holder = holder.setdefault(part, {})
    last = parts[-1]
    if path == "targets[].port":  # a port names a cluster with `service`, not beside `cluster`
        del holder["cluster"]
        holder["service"] = "s.ns"
    if last.endswith("[]"):
        holder.setdefault(last[:-2], [{}])[0].update(value)
    else:
        holder[last] = value
    return config


def check_config(binary, config):
    """(accepted, what the plugin printed)."""
    result = subprocess.run([binary], input=json.dumps(config).encode(), capture_output=True)
    return result.returncode == 0, result.stdout.decode().strip()


def parser_fields(binary, objects):
    """{path} of every field the parser knows in each of `objects`; problems for the rest."""
    fields, problems = set(), []
    for obj in objects:
        if obj.endswith("[]"):
            config = with_value(obj, {PROBE: 1})
        else:
            config = with_value(f"{obj}.{PROBE}" if obj else PROBE, 1)
        accepted, message = check_config(binary, config)
        known = re.search(rf"unknown field `{PROBE}`, expected one of (.*)$", message)
        if accepted or not known:
            problems.append(f"parser: no list of known fields for `{obj or '(top level)'}`: {message}")
            continue
        prefix = f"{obj}." if obj else ""
        fields |= {prefix + name for name in re.findall(r"`([^`]+)`", known.group(1))}
    return fields, problems


def parser_bounds_problems(binary, path, node, low, high):
    """Does the parser accept `low` and `high` and refuse just beyond them?"""
    kind = node.get("type")
    if kind in ("number", "integer"):
        step = 1 if kind == "integer" else 0.5
        value = lambda n: n  # noqa: E731
    elif kind == "string":
        step, value = 1, (lambda n: "n" * int(n))
    elif kind == "array" and path in ITEMS:
        step, value = 1, (lambda n: [ITEMS[path](i) for i in range(int(n))])
    else:
        return [f"{path}: the table states a range, and the check cannot probe a {kind} with it"]
    cases = []
    if low is not None:
        cases += [(low, True)] + ([(low - step, False)] if kind in ("number", "integer") or low > 0 else [])
    if high is not None:
        cases += [(high, True), (high + step, False)]
    problems = []
    for n, valid in cases:
        config = with_value(path, value(n))
        accepted, message = check_config(binary, config)
        if accepted != valid:
            problems.append(f"{path}: the parser {'refuses' if valid else 'accepts'} {n} "
                            f"(table and schema: {low} to {high}): {message}")
    return problems


# --- the table ----------------------------------------------------------------------------

def cells(line):
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_rows(text):
    """[(fields, default cell, meaning cell)] of the reference table; aliases {path: same as}."""
    lines = text.splitlines()
    try:
        start = lines.index(TABLE_HEADER)
    except ValueError:
        raise SystemExit(f"config contract: no table headed {TABLE_HEADER!r}")
    rows, aliases = [], {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        name_cell, default, meaning = cells(line)[:3]
        names, fields = re.findall(r"`([^`]+)`", name_cell), []
        for name in names:
            if name.startswith(".") and fields:
                parent = fields[-1].rsplit(".", 1)[0] if "." in fields[-1] else ""
                name = (parent + name) if parent else name[1:]
            fields.append(name)
        # `match`, `targets[].match`: one object in two places, its fields documented once.
        full = [n for n in names if not n.startswith(".")]
        for other in full[1:]:
            if other.rsplit(".", 1)[-1] == full[0].rsplit(".", 1)[-1]:
                aliases[other] = full[0]
        rows.append((fields, default, meaning))
    return rows, aliases


def table_fields(rows, aliases):
    fields = {field for row in rows for field in row[0]}
    for alias, same in aliases.items():
        fields |= {alias + f[len(same):] for f in fields if f.startswith(same + ".")}
    return fields


def stated_default(cell):
    found = re.match(r"`([^`]*)`", cell)
    if not found:
        return False, None
    try:
        return True, json.loads(found.group(1))
    except ValueError:
        return False, None


def stated_range(meaning):
    found = re.search(r"\b(\d+(?:\.\d+)?) to (\d+(?:\.\d+)?)\b", meaning)
    if found:
        return float(found.group(1)), float(found.group(2))
    found = re.search(r"\b[Uu]p to (\d+)\b", meaning)
    if found:
        return None, float(found.group(1))
    return None


# --- the check ----------------------------------------------------------------------------

def documented(path, fields):
    return path in fields or any(f.startswith(path + ".") or f.startswith(path + "[].") for f in fields)


def check(schema, table_text, binary):
    problems = []
    in_schema = schema_fields(schema)
    rows, aliases = table_rows(table_text)
    in_table = table_fields(rows, aliases)
    in_parser, parser_problems = parser_fields(binary, schema_objects(in_schema))
    problems += parser_problems

    schema_set = set(in_schema)
    for path in sorted(in_parser - schema_set):
        problems.append(f"{path}: known to the parser, not in the schema")
    for path in sorted(schema_set - in_parser):
        problems.append(f"{path}: in the schema, not known to the parser")
    for path in sorted(in_parser | schema_set):
        if not documented(path, in_table):
            problems.append(f"{path}: not in the reference table of docs/configuration.md")
    for path in sorted(in_table - (in_parser | schema_set)):
        problems.append(f"{path}: in the reference table, known to neither the parser nor the schema")

    stated = {}
    for fields, default, meaning in rows:
        for field in fields:
            stated[field] = (default, meaning, fields)
    for alias, same in aliases.items():
        for field in list(stated):
            if field.startswith(same + "."):
                stated.setdefault(alias + field[len(same):], stated[field])

    for path, node in sorted(in_schema.items()):
        if path not in stated:
            continue
        default_cell, meaning, row_fields = stated[path]
        has_default, default = stated_default(default_cell)
        if has_default and node.get("default", PROBE) != default:
            problems.append(f"{path}: the table's default is {json.dumps(default)}, the schema's "
                            f"{json.dumps(node.get('default', 'none'))}")
        if not has_default and "default" in node:
            problems.append(f"{path}: the schema's default {json.dumps(node['default'])} is not "
                            f"stated in the table ({default_cell})")
        low, high = schema_bounds(node)
        table_range = stated_range(meaning)
        # A row of several fields states the range of the one the schema bounds.
        if table_range and len(row_fields) > 1 and low is None and high is None:
            continue
        if table_range is None:
            if node.get("type") in ("number", "integer") and low is not None and high is not None:
                problems.append(f"{path}: the schema bounds it {low} to {high}, the table states no range")
            continue
        table_low, table_high = table_range
        if (table_low is not None and low != table_low) or high != table_high:
            problems.append(f"{path}: the table states {table_low} to {table_high}, "
                            f"the schema {low} to {high}")
            continue
        problems += parser_bounds_problems(binary, path, node, low, high)
    for fields, _, meaning in rows:
        bounded = [f for f in fields if f in in_schema and schema_bounds(in_schema[f]) != (None, None)]
        if stated_range(meaning) and not bounded:
            problems.append(f"{', '.join(fields)}: the table states a range, the schema none")
    return problems


def load(root):
    with open(os.path.join(root, "envoy", "plugin-config.schema.json")) as file:
        schema = json.load(file)
    with open(os.path.join(root, "docs", "configuration.md")) as file:
        table = file.read()
    return schema, table


def main(root, binary):
    schema, table = load(root)
    problems = check(schema, table, binary)
    if problems:
        print("config contract: the parser, the schema and docs/configuration.md disagree:")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    fields = len(schema_fields(schema))
    print(f"config contract: parser, schema and reference table agree on {fields} fields, "
          f"their defaults and their bounds")
    return 0


def self_test(root, binary):
    """A broken table, or schema, must fail the check; the committed ones must pass it."""
    schema, table = load(root)
    assert check(schema, table, binary) == [], "the committed contract must hold"

    def row_of(field):
        return next(line for line in table.splitlines() if line.startswith(f"| `{field}` |"))

    amplify, timeout = row_of("targets[].amplify"), row_of("targets[].timeout_ms")
    broken_tables = {
        "a row left out": table.replace(amplify + "\n", ""),
        "another default": table.replace(timeout, timeout.replace("`5000`", "`4000`")),
        "another range": table.replace(amplify, amplify.replace("1 to 10", "1 to 11")),
        "a field nobody knows": table.replace(amplify, amplify + "\n| `targets[].weight` | `1` | Weight. |"),
    }
    expected = {"a row left out": "targets[].amplify", "another default": "targets[].timeout_ms",
                "another range": "targets[].amplify", "a field nobody knows": "targets[].weight"}
    for what, broken in broken_tables.items():
        assert broken != table, what
        problems = check(schema, broken, binary)
        assert any(expected[what] in p for p in problems), f"{what}: not caught: {problems}"

    no_salt = copy.deepcopy(schema)
    del no_salt["$defs"]["target"]["properties"]["sampling"]["properties"]["salt"]
    assert any("targets[].sampling.salt: known to the parser, not in the schema" in p
               for p in check(no_salt, table, binary)), "a property left out of the schema"
    other_max = copy.deepcopy(schema)
    other_max["properties"]["body"]["properties"]["max_bytes"]["maximum"] = 1
    assert any(p.startswith("body.max_bytes: the table states") for p in check(other_max, table, binary))
    # Table and schema agreeing on a range the parser does not keep: the parser's side fails.
    wider = copy.deepcopy(schema)
    wider["$defs"]["target"]["properties"]["amplify"]["maximum"] = 11
    assert any(p.startswith("targets[].amplify: the parser refuses 11")
               for p in check(wider, broken_tables["another range"], binary)), "parser bounds"
    print("config contract self-test: ok")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-test"]:
        sys.exit(self_test(sys.argv[2], sys.argv[3]))
    sys.exit(main(sys.argv[1], sys.argv[2]))
