"""The stream interface of every MAC family: AXI4-Stream handshakes around the proven bare unit.

A dot product arrives as a packet of beats on ``s_axis`` (``tvalid``/``tready``/
``tlast``); its result leaves as one beat on ``m_axis``. The wrapper adds control
only: the bare unit (``hw/mac.py``, ``hw/mx_mac.py``) computes every value, its
``valid`` is the accepted beat and its ``clear`` the first beat of a packet.

- ``s_axis_tdata`` packs the beat's fields least significant first, in the order
  of ``input_fields``: ``a`` and ``w`` (lane-packed as on the bare unit), an MX
  unit's ``sa`` and ``sw`` (read on each block's last beat), then ``bias``
  (accumulator encoding, read on the packet's first beat only), zero-padded to
  whole bytes as AXI4-Stream requires.
- A beat is accepted at a rising edge with ``tvalid & tready``; ``tlast`` marks the
  last beat of a dot product. An MX unit with fewer lanes than its block takes
  ``cycles_per_block`` beats per block, so a packet holds a whole number of blocks
  (a trailing partial block is dropped, as at the bare unit's ``clear``).
- ``m_axis_tdata`` is the result in the output format (``out``), ``m_axis_tvalid``
  holds it until ``m_axis_tready``. Results queue in ``latency + 2`` registers;
  ``s_axis_tready`` is low only when every slot is taken or owed to a packet in
  flight, so backpressure stalls the input without losing or repeating a beat, and
  with a ready sink the unit takes a beat every cycle (one-beat packets included).
  ``s_axis_tready`` is a register (no path from ``m_axis_tready`` or
  ``s_axis_tvalid``), so the beat the bare unit sees is one AND from flip-flops.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamMac", "input_fields", "stream_shape"]


def input_fields(unit):
    """``[(name, bits)]`` of one input beat, least significant first."""
    fields = [("a", len(unit.a)), ("w", len(unit.w))]
    fields += [(k, len(getattr(unit, k))) for k in getattr(unit.config, "inputs", ())]
    if unit.has_bias:
        fields.append(("bias", len(unit.bias)))
    return fields


def _bytes(bits):
    return -(-bits // 8) * 8


def stream_shape(unit):
    """The stream wrapper's figures for bare ``unit``: ``fields``, ``tdata_bits``, ``out_bits`` (``m_axis_tdata``),
    ``result_bits`` (the result code in its low bits), ``depth`` (result slots) and ``latency`` (edges from the
    last beat to its result on ``m_axis``, an empty queue)."""
    fields = input_fields(unit)
    return {"fields": [{"name": n, "bits": b} for n, b in fields], "tdata_bits": _bytes(sum(b for _, b in fields)),
            "out_bits": _bytes(len(unit.out)), "result_bits": len(unit.out), "depth": unit.latency + 2,
            "latency": unit.latency + 1}


class StreamMac(wiring.Component):
    """A bare MAC ``unit`` behind an AXI4-Stream input and output (the module docstring states the protocol).

    ``_credit`` (tests only) is the number of results the wrapper lets itself owe;
    above the queue's depth it overruns the queue under backpressure and drops
    results, the mutant the backpressure tests must catch.
    """

    def __init__(self, unit, *, _credit=None):
        self._unit = unit
        shape = stream_shape(unit)
        self._fields = [(f["name"], f["bits"]) for f in shape["fields"]]
        self._depth, self._latency = shape["depth"], shape["latency"]
        self._credit = self._depth if _credit is None else _credit
        super().__init__({"s_axis_tvalid": In(1), "s_axis_tready": Out(1), "s_axis_tlast": In(1),
                          "s_axis_tdata": In(shape["tdata_bits"]),
                          "m_axis_tvalid": Out(1), "m_axis_tready": In(1), "m_axis_tdata": Out(shape["out_bits"])})

    unit = property(lambda self: self._unit)
    config = property(lambda self: self._unit.config)
    fields = property(lambda self: list(self._fields))
    depth = property(lambda self: self._depth)

    latency = property(lambda self: self._latency)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        accept = Signal()
        first = Signal(init=1)  # the next beat opens a dot product
        m.d.comb += accept.eq(self.s_axis_tvalid & self.s_axis_tready)
        with m.If(accept):
            m.d.sync += first.eq(self.s_axis_tlast)
        m.d.comb += [unit.valid.eq(accept), unit.clear.eq(accept & first)]
        at = 0
        for name, bits in self._fields:
            m.d.comb += getattr(unit, name).eq(self.s_axis_tdata[at:at + bits])
            at += bits

        # a packet's result is on ``out`` ``latency`` edges after its last beat
        done = [Signal(name=f"done{i}") for i in range(unit.latency)]
        m.d.sync += [done[0].eq(accept & self.s_axis_tlast)] + [d.eq(p) for p, d in zip(done, done[1:], strict=False)]
        push = done[-1]

        depth = self._depth
        slots = Array(Signal(len(unit.out), name=f"slot{i}") for i in range(depth))
        count = Signal(range(depth + 1))
        # the queue's state is its head and its fill; the tail follows from them (no third register that could
        # disagree, so ``hw prove``'s induction needs no invariant beyond the properties)
        rd, wr = Signal(range(depth)), Signal(range(depth))
        tail = Signal(range(2 * depth + 1))
        m.d.comb += [tail.eq(rd + count), wr.eq(Mux(tail >= depth, tail - depth, tail))]
        pop = Signal()
        full = Signal()
        m.d.comb += [full.eq(count == depth), pop.eq(self.m_axis_tvalid & self.m_axis_tready)]
        written = Signal()
        m.d.comb += written.eq(push & (~full | pop))
        with m.If(written):
            m.d.sync += slots[wr].eq(unit.out)
        with m.If(pop):
            m.d.sync += rd.eq(Mux(rd == depth - 1, 0, rd + 1))
        count_next = Signal.like(count)
        m.d.comb += count_next.eq(count + written - pop)
        m.d.sync += count.eq(count_next)
        owed = Signal(range(depth + len(done) + 2), name="owed")
        m.d.comb += owed.eq(count + sum(done))
        # ``s_axis_tready`` is a register: next cycle's fill and flags against the credit, so the accepted beat
        # (the bare unit's valid and clear) is one AND away from a flip-flop, off the datapath's critical path
        owed_next = Signal.like(owed)
        m.d.comb += owed_next.eq(count_next + (accept & self.s_axis_tlast) + sum(done[:-1]))
        ready = Signal(init=1, name="ready")
        m.d.sync += ready.eq(owed_next < self._credit)
        # named for ``hw prove`` (synth/prove.py, prove_stream), no logic after synthesis: a result arriving at a
        # full queue is lost; a fill above the depth is a state no input sequence from reset reaches
        dropped, overfull = Signal(name="dropped"), Signal(name="overfull")
        m.d.comb += [dropped.eq(push & full & ~pop), overfull.eq(count > depth)]
        m.d.comb += [self.s_axis_tready.eq(ready),
                     self.m_axis_tvalid.eq(count != 0),
                     self.m_axis_tdata.eq(Cat(slots[rd]))]
        return m
