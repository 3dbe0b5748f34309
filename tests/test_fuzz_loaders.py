"""Fuzzing the loaders at the boundaries: data, config and MAC spec either load or raise one clear InputError."""

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from ristretto.hw import parse_spec

from ristretto.errors import InputError
from ristretto.nn.config import load_config
from ristretto.nn.data import Dataset, load_data, safe_unpickle

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ("x_train", "y_train", "x_val", "y_val")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)

arrays = hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_, np.int8]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
                    )


def _tmp(suffix):
    return Path(tempfile.mkdtemp()) / f"f{suffix}"


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS + ("extra",)), arrays, min_size=0, max_size=5))
def test_npz_loads_or_raises_input_error(content):
    path = _tmp(".npz")
    np.savez(path, **content)
    try:
        assert isinstance(load_data(str(path)), Dataset)
    except InputError:
        pass


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_are_refused_as_data(blob):
    path = _tmp(".npz")
    path.write_bytes(blob)
    try:
        load_data(str(path))
    except InputError:
        pass
    try:
        safe_unpickle(blob, "fuzz")
    except InputError:
        pass


@FUZZ
@given(json_values | st.fixed_dictionaries({"scheme": st.sampled_from(["dfp", "pow2", "x"]), "widths": json_values,
                                            "layers": json_values}))
def test_config_loads_or_raises_input_error(obj):
    path = _tmp(".json")
    path.write_text(json.dumps(obj))
    try:
        load_config(path)
    except InputError:
        pass


fmt = st.fixed_dictionaries({"kind": st.sampled_from(["dfp", "pow2", "minifloat", "x"])},
                            optional={"bits": st.integers(-2, 40), "frac_bits": st.integers(-200, 200),
                                      "exp_bits": st.integers(-1, 12), "man_bits": st.integers(-1, 30),
                                      "exp_min": st.integers(-200, 200), "exp_max": st.integers(-200, 200),
                                      "zero": json_values})


@FUZZ
@given(st.fixed_dictionaries({}, optional={"family": st.sampled_from(["fixed", "shift", "minifloat", "float32", 3]),
                                           "a": fmt | json_values, "w": fmt, "out": fmt,
                                           "acc_bits": json_values | st.integers(0, 80),
                                           "overflow": st.sampled_from(["wrap", "saturate", "clip"]),
                                           "accumulator": st.sampled_from(["fp32", "exact", 1]),
                                           "stages": json_values, "bias": json_values}) | json_values)
def test_spec_parses_or_raises_input_error(obj):
    path = _tmp(".json")
    path.write_text(json.dumps(obj))
    try:
        parse_spec(str(path))
    except InputError:
        pass
