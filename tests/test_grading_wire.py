"""digitcourse.grading.student.wire: what crosses between a student's kernel and the grader, and what cannot."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from digitcourse.grading.student import arguments, wire


def no_references(value):
    raise AssertionError(f"{value!r} should have crossed as data")


def round_trip(value):
    return wire.loads(wire.dumps(value, no_references), no_references)


def test_numbers_strings_and_containers_cross_as_they_are():
    value = {"a": [1, 2.5, None, True, "x"], (1, "k"): (b"\x00\xff", slice(1, 9, 2)), 7: {"nested": []},
             "big": 2 ** 80, "odd": [math.inf, -math.inf]}
    back = round_trip(value)
    assert back == value and isinstance(back[(1, "k")], tuple)
    assert math.isnan(round_trip(math.nan))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8,
                                   torch.bfloat16, torch.float16])
def test_tensors_cross_with_their_dtype_shape_and_values(dtype):
    tensor = (torch.randn(3, 4, 5) * 10).to(dtype)
    back = round_trip(tensor)
    assert back.dtype == dtype and back.shape == tensor.shape and torch.equal(back, tensor)


def test_a_tensor_that_requires_grad_still_does_and_a_view_crosses_whole():
    tensor = torch.randn(4, 6, requires_grad=True)
    back = round_trip(tensor[:, ::2].T)
    assert back.requires_grad and torch.equal(back, tensor[:, ::2].T.detach())


def test_numpy_arrays_scalars_and_pandas_tables_cross():
    frame = pd.DataFrame({"lam": [5e-5, 5e-4], "val": [0.91, 0.95], "name": ["a", "b"]}, index=[3, 8])
    back = round_trip({"array": np.arange(6, dtype=np.int16).reshape(2, 3), "scalar": np.float32(0.25),
                       "frame": frame, "series": frame["val"]})
    assert back["array"].dtype == np.int16 and np.array_equal(back["array"], np.arange(6).reshape(2, 3))
    assert isinstance(back["scalar"], np.floating) and back["scalar"] == 0.25
    pd.testing.assert_frame_equal(back["frame"], frame)
    pd.testing.assert_series_equal(back["series"], frame["val"])


def test_a_generator_crosses_with_its_state_and_torch_types_by_name():
    generator = torch.Generator().manual_seed(3)
    torch.rand(5, generator=generator)
    back = round_trip(generator)
    assert torch.equal(torch.rand(4, generator=back), torch.rand(4, generator=generator))
    assert round_trip([torch.float64, torch.device("cpu"), torch.Size([2, 3])]) == [
        torch.float64, torch.device("cpu"), torch.Size([2, 3])]


def test_other_objects_cross_as_references_the_other_side_resolves():
    class Layer:
        pass

    layer = Layer()
    text = wire.dumps({"model": layer}, lambda value: {"handle": id(value)})
    assert wire.loads(text, lambda reference: ("handle", reference["handle"])) == {"model": ("handle", id(layer))}


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not JSON"),
    ('{"$pickle": "gASVAAAA"}', "unexpected"),
    ('{"$numpy": {"dtype": "|O", "shape": [1], "data": ""}}', "do not cross"),
    ('{"$tensor": {"dtype": "<f4", "shape": [1], "data": "AAAAAA=="}, "dtype": "load", "grad": false}',
     "unknown dtype 'load'"),
    ('{"$dict": [[[1], 2]]}', "a dict key that is a list"),
    ('{"$float": "1e999x"}', "unknown float"),
    ("[" * 200 + "]" * 200, "nested"),
])
def test_text_that_is_not_in_the_format_is_refused_without_running_anything(text, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.loads(text, no_references)


def test_what_a_callee_changes_in_its_arguments_comes_back_in_place():
    tensor, grads, generator = torch.zeros(3), {"W": torch.ones(2), "b": torch.zeros(1)}, torch.Generator().manual_seed(0)
    model = torch.nn.Linear(2, 1)
    kept_w = grads["W"]
    args, kwargs = (tensor, grads, generator), {"model": model}
    sent = [round_trip(value) for value in args]  # the callee's own copies
    sent_model = torch.nn.Linear(2, 1)
    sent_model.load_state_dict(model.state_dict())
    before = arguments.snapshot(tuple(sent), {"model": sent_model}, no_references)
    sent[0].add_(1)
    sent[1]["W"].mul_(3)
    torch.rand(2, generator=sent[2])
    with torch.no_grad():
        sent_model.weight.fill_(7.0)
    changed = arguments.changed_arguments(before, tuple(sent), {"model": sent_model}, no_references)
    assert [position for position, _ in changed] == [0, 1, 2, "model"]
    arguments.write_back(args, kwargs, round_trip(changed), no_references)
    assert torch.equal(tensor, torch.ones(3)) and grads["W"] is kept_w and torch.equal(kept_w, torch.full((2,), 3.0))
    assert torch.equal(generator.get_state(), sent[2].get_state())
    assert torch.equal(model.weight, torch.full((1, 2), 7.0))


def test_an_argument_nobody_changed_does_not_come_back():
    values = (torch.arange(4.0), [1, 2], "text", 3.5)
    before = arguments.snapshot(values, {}, no_references)
    assert set(before) == {0, 1} and arguments.changed_arguments(before, values, {}, no_references) == []


def test_a_tensor_crosses_with_the_gradient_backward_left_on_it():
    tensor = torch.ones(3, requires_grad=True)
    (tensor * torch.arange(3.0)).sum().backward()
    back = round_trip(tensor)
    assert back.requires_grad and torch.equal(back.grad, torch.arange(3.0))


def test_mirrors_keep_one_object_per_number_brought_up_to_date_in_place():
    grader, kernel = arguments.Mirrors(), arguments.Mirrors()
    x, generator = torch.zeros(2, requires_grad=True), torch.Generator().manual_seed(1)

    def send(value):
        return wire.loads(wire.dumps(value, no_references, grader.number),
                          lambda ref: kernel.adopt(ref["same"], ref["value"], new=True))

    first = send({"x": x, "g": generator, "n": 3})
    x.grad = torch.ones(2)
    second = send({"x": x, "g": generator, "n": 3})
    assert second["x"] is first["x"] and second["g"] is first["g"] and second["n"] == 3
    assert torch.equal(second["x"].grad, torch.ones(2)) and kernel.known(first["x"]) == grader.number(x)
    with pytest.raises(wire.WireError, match="never sent"):
        arguments.Mirrors().adopt(12345, x, new=False)
