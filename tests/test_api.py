"""The Python API (attncli/api.py): the docs' example as written, the docstring's, and
the same numbers as the commands give."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, invoke, ok_json

import attncli
from attncli import api
from attncli.errors import AttnError, RoleError

BERT = FIXTURES / "bert"


def run_doctest(text: str, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, {}, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    return runner.summarize(verbose=False)


def test_the_docs_example_runs_as_written() -> None:
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```pycon\n(.*?)```", page, re.DOTALL)
    results = run_doctest(example, "docs/api.md")
    assert results.attempted >= 6 and results.failed == 0


def test_the_docstring_example_runs() -> None:
    results = run_doctest(api.__doc__ or "", "attncli.api")
    assert results.attempted >= 4 and results.failed == 0


def test_import_attncli_loads_nothing_until_the_api_is_used() -> None:
    code = ("import sys, attncli\n"
            "print(sorted(m for m in sys.modules if m.startswith(('attncli.', 'numpy'))))\n"
            "attncli.explain\n"
            "print('attncli.api' in sys.modules, 'attncli.explain' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.splitlines()
    assert out == ["[]", "True False"]  # the API itself imports the rest when called


def test_the_package_names_are_the_functions_even_with_their_modules_imported() -> None:
    importlib.import_module("attncli.explain")
    importlib.import_module("attncli.heads")
    assert attncli.explain is api.explain and attncli.heads is api.heads
    assert attncli.load_model is api.load_model
    assert sys.modules["attncli.explain"].Explanation.__module__ == "attncli.explain"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        attncli.nothing  # noqa: B018


def test_seeded_explain_is_what_attn_explain_shows() -> None:
    ex = attncli.explain("The animal was tired", seed=3)
    doc = ok_json(invoke("explain", "The animal was tired", "--seed", "3", "--json"))
    assert np.array_equal(ex.heads[0].steps.weights, np.array(doc["heads"][0]["weights"]))


def test_a_model_by_path_with_layers_and_heads_as_lists_or_specs() -> None:
    model = attncli.load_model(BERT)
    by_list = attncli.explain("The animal was tired", model, layers=[0, -1], heads=[1])
    by_spec = attncli.explain("The animal was tired", str(BERT), layers="0,last", heads="1")
    assert [(hs.layer, hs.head) for hs in by_list.heads] == [(0, 1), (model.n_layers - 1, 1)]
    for a, b in zip(by_list.heads, by_spec.heads, strict=True):
        assert np.array_equal(a.steps.weights, b.steps.weights)
    doc = ok_json(invoke("explain", "The animal was tired", "--model", str(BERT), "--layer",
                         "0", "--head", "1", "--json"))
    assert np.array_equal(by_list.heads[0].steps.weights,
                          np.array(doc["heads"][0]["weights"]))


def test_heads_explains_every_layer_and_head_of_a_text() -> None:
    overview = attncli.heads("The animal was tired", BERT)
    model = attncli.load_model(BERT)
    assert overview.layers == list(range(model.n_layers))
    assert overview.heads == list(range(model.n_heads))
    assert overview.grid is None
    pair = attncli.heads("The animal was tired", BERT, query="tired", key="animal")
    assert pair.grid is not None and pair.grid.shape == (model.n_layers, model.n_heads)


def test_errors_name_the_role_not_an_option() -> None:
    with pytest.raises(RoleError) as refused:
        attncli.heads("The animal was tired", query="zebra", key="animal")
    assert str(refused.value).startswith("the query word 'zebra' is not one of the tokens")
    with pytest.raises(AttnError, match="^layer 'x': give a number"):
        attncli.explain("The animal was tired", BERT, layers="x")
    with pytest.raises(AttnError, match="the text is empty"):
        attncli.explain("")
