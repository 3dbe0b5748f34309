"""Helpers shared by the hardware tests of both tiers."""


def truncating_requantizer(monkeypatch):
    """Sabotage: the requantizer floors instead of rounding to nearest even."""
    from amaranth.hdl import Module
    from ristretto.hw.requantizer import Requantizer

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.eq(self.i >> self._shift)
        return m

    monkeypatch.setattr(Requantizer, "elaborate", elaborate)
