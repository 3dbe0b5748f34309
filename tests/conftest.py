"""Shared fixtures: the built-in data and LeNet (trained once per cache, about 10 s)."""

import os

import pytest

# Ray binds and advertises loopback only, before any test imports it (it reads this once): the local workers and
# the real head of tests/report/test_execute.py stay on 127.0.0.1, never on the machine's interface address
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from ristretto.nn.data import builtin_mnist
from ristretto.nn.models import builtin_lenet


@pytest.fixture(scope="session")
def mnist():
    return builtin_mnist()


@pytest.fixture(scope="session")
def lenet(mnist):
    return builtin_lenet(mnist)
