"""The paper estimate of data-parallel scaling (`triptych.training.dp_estimate`): the fit
recovers latency and bandwidth, and the ring / parameter-server formulas give the numbers
worked out by hand. Nothing is launched or timed here."""

from __future__ import annotations

import math

import pytest

from triptych.training import dp_estimate as E


def test_fit_recovers_latency_and_bandwidth_of_a_ring_of_two() -> None:
    a, b = 50e-6, 2e9  # 50 us per hop, 2 GB/s
    points = [(s, 2 * a + s / b) for s in (4096, 1 << 20, 16 << 20)]
    got_a, got_b = E.fit_allreduce(points)
    assert got_a == pytest.approx(a, rel=1e-6) and got_b == pytest.approx(b, rel=1e-6)
    # a parameter server moves 4 S at N = 2 (2 pushes in, 2 pulls out of its link)
    ps = [(s, 2 * a + 4 * s / b) for s in (4096, 1 << 20)]
    assert E.fit_allreduce(ps, ring=False)[1] == pytest.approx(b, rel=1e-6)


def test_ring_and_server_formulas() -> None:
    s, w = 1_000_000, 1.25e9  # 1 MB over 10 Gbit/s
    assert E.allreduce_seconds(1, s, 1e-5, 1e9, w, 1e-5, ring=True) == 0.0
    # ring of 4, no software cost: 2(N-1)/N S / W and 2(N-1) hops of latency
    ring = E.allreduce_seconds(4, s, 0.0, math.inf, w, 25e-6, ring=True)
    assert ring == pytest.approx(6 * 25e-6 + 1.5 * s / w)
    server = E.allreduce_seconds(4, s, 0.0, math.inf, w, 25e-6, ring=False)
    assert server == pytest.approx(2 * 25e-6 + 8 * s / w)


def test_efficiencies() -> None:
    compute = {64: 0.032, 32: 0.016, 16: 0.008, 8: 0.004, 4: 0.002}  # linear in the batch
    rows = E.estimate("x", 0, 0.0, math.inf, compute, 64)  # the wire's latency alone
    one = [r for r in rows if r.machines == 1]
    assert [r.strong_efficiency for r in one] == [1.0, 1.0]
    sixteen = next(r for r in rows if r.machines == 16 and r.network == "10 Gbit/s")
    assert sixteen.strong_efficiency == pytest.approx(0.032 / (16 * (0.002 + 30 * 25e-6)))
    rows = E.estimate("x", 120_000, 100e-6, 1e9, compute, 64)
    two = next(r for r in rows if r.machines == 2 and r.network == "10 Gbit/s")
    ar = 2 * (100e-6 + 25e-6) + 120_000 * (1 / 1e9 + 8 / 10e9)
    assert two.allreduce_s == pytest.approx(ar)
    assert two.strong_efficiency == pytest.approx(0.032 / (2 * (0.016 + ar)))
    assert two.weak_efficiency == pytest.approx(0.032 / (0.032 + ar))
