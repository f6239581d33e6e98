"""Design-space exploration: study specs, search spaces, an Optuna runner
with durable storage and exact, resumable budgets, Pareto reports."""

from bnnarch.dse._accuracy import AccuracyEvaluator, CachedEvaluator, ProxyEvaluator, make_evaluator
from bnnarch.dse._pareto import dominates, pareto_trials
from bnnarch.dse._report import summary_line, write_report
from bnnarch.dse._runner import open_study, run_study, storage_label, worker_loop
from bnnarch.dse._signals import SearchInterrupted
from bnnarch.dse._spec import StudySpec, load_study_spec, parse_study
from bnnarch.dse._storage import get_storage
from bnnarch.dse._studies import list_studies, override_spec, studies_table, study_summary

__all__ = [
    "AccuracyEvaluator",
    "CachedEvaluator",
    "ProxyEvaluator",
    "SearchInterrupted",
    "StudySpec",
    "dominates",
    "get_storage",
    "list_studies",
    "load_study_spec",
    "make_evaluator",
    "open_study",
    "override_spec",
    "pareto_trials",
    "parse_study",
    "run_study",
    "storage_label",
    "studies_table",
    "study_summary",
    "summary_line",
    "worker_loop",
    "write_report",
]
