"""A candidate proposed twice is one Pareto point, not two."""

from __future__ import annotations

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import create_trial

from bnnarch.dse._pareto import pareto_trials


class _Spec:
    class _O:
        def __init__(self, d: str) -> None:
            self.direction = d

    objectives = (_O("minimize"), _O("minimize"))


def test_same_params_twice_is_one_pareto_point():
    study = optuna.create_study(directions=["minimize", "minimize"])
    d = {"x": IntDistribution(0, 10)}
    for x, vals in ((1, [1.0, 5.0]), (2, [5.0, 1.0]), (1, [1.0, 5.0]), (3, [2.0, 2.0]),
                    (4, [6.0, 6.0])):
        study.add_trial(create_trial(params={"x": x}, distributions=d, values=vals))
    got = [(t.number, t.params["x"]) for t in pareto_trials(study, _Spec())]  # type: ignore[arg-type]
    assert got == [(0, 1), (1, 2), (3, 3)]
