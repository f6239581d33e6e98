"""Computation-reuse schemes as design options (issue 4): kernel-pattern reuse
(repeated / sign-inverted binary 2-D kernels, Chang et al. DATE 2020) and
input-similarity reuse (neighbouring windows, Fu et al. arXiv 1810.02068).

* ``stats``     — measure ``ReuseStats`` on real trained weights and activations
* ``effect``    — the hardware model: exact counts from (layer, stats, spec)
* ``cost``      — cycles / energy / area the simulator charges for them
* ``hook``      — the small interface bnnarch.array.simulate calls
* ``reference`` — numpy execution of each scheme (bit-exact, same counts)
"""

from bnnarch.array.reuse.effect import SCHEMES, ReuseEffect, SchemeCount, reuse_effect

__all__ = ["SCHEMES", "ReuseEffect", "SchemeCount", "reuse_effect"]
