"""Shared fixtures: the built-in data and LeNet (trained once per cache, about 10 s)."""

import pytest

from ristretto.nn.data import builtin_mnist
from ristretto.nn.models import builtin_lenet


@pytest.fixture(scope="session")
def mnist():
    return builtin_mnist()


@pytest.fixture(scope="session")
def lenet(mnist):
    return builtin_lenet(mnist)
