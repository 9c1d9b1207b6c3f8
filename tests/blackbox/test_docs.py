"""The configuration reference is generated from the binary; it must not drift."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import config_doc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("DROPLIN_BIN", os.path.join(REPO, "droplin"))


def test_configuration_doc_lists_exactly_the_variables_of_help():
    with open(os.path.join(REPO, "docs", "configuration.md")) as f:
        doc = f.read()
    assert config_doc.render(doc, BINARY) == doc, "run `make docs`"
    names = [v[0] for v in config_doc.variables(BINARY)]
    assert len(names) == len(set(names)) and len(names) >= 30
    for name in names:
        assert f"`{name}`" in doc


def _doc_files():
    docs = os.path.join(REPO, "docs")
    files = [os.path.join(REPO, "README.md"), os.path.join(REPO, "railway.toml")]
    files += [os.path.join(docs, f) for f in sorted(os.listdir(docs))
              if f.endswith((".md", ".toml", ".yaml", ".cfg"))]
    return files


def test_docs_stand_alone():
    """The docs cite no document outside the repository (a planning file, an issue's draft)."""
    import re
    outside = re.compile(r"\bDECISIONS\b|(?i:issue's draft|\bspec/|SCALING_GUIDE|ORIGINAL_API|"
                         r"the scaling guide|DEPENDENCIES\.md)")
    hits = []
    for path in _doc_files():
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if outside.search(line):
                    hits.append(f"{os.path.relpath(path, REPO)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_doc_links_resolve():
    """Every relative Markdown link names a file that exists, and its #anchor a heading there."""
    import re

    def anchors(path):
        with open(path) as f:
            heads = re.findall(r"^#+ (.*)$", f.read(), re.M)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}

    bad = []
    for path in _doc_files():
        if not path.endswith(".md"):
            continue
        with open(path) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            if not os.path.exists(full):
                bad.append(f"{os.path.relpath(path, REPO)}: {target} (no such file)")
            elif anchor and full.endswith(".md") and anchor not in anchors(full):
                bad.append(f"{os.path.relpath(path, REPO)}: {target} (no such heading)")
    assert not bad, "\n".join(bad)
