"""Rounding modes on plain tensors."""

import pytest
import torch

from ristretto.formats.rounding import round_integer, uniform_like


def test_modes_on_ties_and_the_largest_float_below_one_half():
    below_half = torch.nextafter(torch.tensor(0.5), torch.tensor(0.0)).item()
    y = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, below_half, -below_half, 2.7, -2.7])
    assert round_integer(y, "nearest_even").tolist() == [0, 2, 2, -0, -2, 0, 0, 3, -3]
    assert round_integer(y, "nearest_away").tolist() == [1, 2, 3, -1, -3, 0, 0, 3, -3]
    assert round_integer(y, "toward_zero").tolist() == [0, 1, 2, 0, -2, 0, 0, 2, -2]


def test_stochastic_takes_the_upper_neighbour_exactly_when_u_is_below_the_fraction():
    y = torch.tensor([2.25, 2.25, -2.25, -2.25, 3.0])
    u = torch.tensor([0.2499, 0.25, 0.7499, 0.75, 0.0])
    assert round_integer(y, "stochastic", u).tolist() == [3, 2, -2, -3, 3]


def test_seed_gives_the_same_samples_as_a_cpu_generator():
    y = torch.zeros(1000)
    assert torch.equal(uniform_like(y, 7), uniform_like(y, torch.Generator().manual_seed(7)))
    assert not torch.equal(uniform_like(y, 7), uniform_like(y, 8))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match=r"^Rounding mode must be one of .*, not 'banker'$"):
        round_integer(torch.zeros(1), "banker")
