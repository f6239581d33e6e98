"""Computation-reuse schemes as design options: kernel-pattern reuse
(repeated / sign-inverted binary 2-D kernels, Chang et al. DATE 2020) and
input-similarity reuse (neighbouring windows, Fu et al. arXiv 1810.02068).

* ``effect``    — the hardware model: exact counts from (layer, stats, spec)
* ``cost``      — cycles / energy / area the simulator charges for them
* ``hook``      — the plug-in: ``apply(layer, spec, schedule, energy) -> ReuseOutcome``
* ``reference`` — numpy execution of each scheme (bit-exact, same counts)

Their statistics (``ReuseStats``) are measured on real weights and activations
by bnnarch.workload.reuse_stats (numpy) and bnnarch.nn.reuse_stats (torch).
"""

from bnnarch.array.reuse.effect import SCHEMES, ReuseEffect, SchemeCount, reuse_effect

__all__ = ["SCHEMES", "ReuseEffect", "SchemeCount", "reuse_effect"]
