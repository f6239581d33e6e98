"""Design-space exploration: study specs, search spaces, an Optuna runner
with durable storage and exact, resumable budgets, Pareto reports."""

from bnnarch.dse._accuracy import AccuracyEvaluator, CachedEvaluator, ProxyEvaluator, make_evaluator
from bnnarch.dse._pareto import dominates, pareto_trials
from bnnarch.dse._runner import open_study, run_study, worker_loop
from bnnarch.dse._spec import StudySpec, load_study, parse_study
from bnnarch.dse._storage import get_storage

__all__ = [
    "AccuracyEvaluator",
    "CachedEvaluator",
    "ProxyEvaluator",
    "StudySpec",
    "dominates",
    "get_storage",
    "load_study",
    "make_evaluator",
    "open_study",
    "pareto_trials",
    "parse_study",
    "run_study",
    "worker_loop",
]
