"""`mtl.source.listing`: the code a notebook shows beside its equation."""

import inspect
from functools import partial

import pytest

import mtl_lib as mtl


def test_a_builder_is_listed_with_its_file_and_lines_without_its_docstring():
    text = mtl.source.listing(mtl.models.build_esmm_chain)
    lines, first = inspect.getsourcelines(mtl.models.build_esmm_chain)
    header, code = text.split("\n", 1)
    assert header == f"# mtl_lib/models/esmm.py, lines {first}-{first + len(lines) - 1}"
    assert code.startswith("def build_esmm_chain(")
    assert mtl.models.build_esmm_chain.__doc__.strip().splitlines()[0] not in code
    # every line but the docstring's, to the function's last
    docstring_lines = mtl.models.build_esmm_chain.__doc__.count("\n") + 1
    assert len(code.splitlines()) == len(lines) - docstring_lines
    assert code.splitlines()[-1] == lines[-1].rstrip("\n")


def test_the_docstring_on_request_a_partial_and_one_method_of_a_layer():
    with_doc = mtl.source.listing(mtl.models.build_esmm_chain, docstring=True)
    assert mtl.models.build_esmm_chain.__doc__.strip().splitlines()[0] in with_doc
    wrapped = partial(mtl.models.build_esmm_chain, tower_units=(8,))
    assert mtl.source.listing(wrapped) == mtl.source.listing(mtl.models.build_esmm_chain)
    call = mtl.source.listing(mtl.layers.MixtureOfExperts, method="call")
    assert call.split("\n")[1].startswith("def call(") and "mtl_lib/layers/moe.py" in call


def test_a_method_the_class_does_not_define_is_refused():
    with pytest.raises(ValueError, match="no method 'fit' of its own"):
        mtl.source.listing(mtl.layers.MixtureOfExperts, method="fit")
    with pytest.raises(ValueError, match="no method"):
        mtl.source.listing(mtl.models.build_esmm_chain, method="call")
