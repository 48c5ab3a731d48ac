"""Every relative link of the Markdown pages (README.md, SECURITY.md, CHANGELOG.md, docs/*.md)
names a file that exists and, with `#anchor`, a heading of that page (GitHub's anchors: lower
case, punctuation dropped, spaces as `-`). The README links into docs/ and the pages into one
another, so a heading renamed or a page moved must not leave a link behind.

Usage: doc_links.py <repo root>
       doc_links.py --self-test
"""

import os
import re
import sys
import tempfile

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path):
    text = FENCE.sub("", open(path).read())
    found = set()
    for line in text.splitlines():
        heading = re.match(r"^#+ (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def pages(root):
    names = ["README.md", "SECURITY.md", "CHANGELOG.md"]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        names += [os.path.join("docs", n) for n in sorted(os.listdir(docs)) if n.endswith(".md")]
    return [n for n in names if os.path.exists(os.path.join(root, n))]


def broken_links(root):
    problems = []
    for page in pages(root):
        text = FENCE.sub("", open(os.path.join(root, page)).read())
        for match in LINK.finditer(text):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(root, os.path.dirname(page), path)) if path \
                else os.path.join(root, page)
            if not os.path.exists(full):
                problems.append(f"{page}: link to a missing file: {target}")
            elif anchor and full.endswith(".md") and anchor not in anchors(full):
                problems.append(f"{page}: link to a missing heading: {target}")
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "docs", "a.md"), "w") as file:
            file.write("# A\n\n## Limits, and amplification\n\n```\n## not a heading\n```\n")
        with open(os.path.join(root, "README.md"), "w") as file:
            file.write("[ok](docs/a.md#limits-and-amplification) [ok](docs/a.md) "
                       "[web](https://example.com/x#y)\n")
        assert broken_links(root) == [], broken_links(root)
        with open(os.path.join(root, "README.md"), "a") as file:
            file.write("[gone](docs/b.md) [moved](docs/a.md#limits) [fenced](docs/a.md#not-a-heading)\n")
        problems = broken_links(root)
        assert len(problems) == 3, problems
    print("doc_links self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        sys.exit(0)
    found = broken_links(sys.argv[1])
    print("\n".join(found) if found else f"doc links: every link of {len(pages(sys.argv[1]))} pages resolves")
    sys.exit(1 if found else 0)
