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
