"""Closed-loop evaluation: rolling out episodes (``rollout``), the statistics of the study
(``statistics``: intervals, paired tests, seed summaries) and the study itself (``study``: the
conditions, their figures and the report)."""

from goggles_gym.evaluation.rollout import ConditionResult, Episode, run_condition
from goggles_gym.evaluation.statistics import mcnemar_exact, seed_summary, wilson_interval
from goggles_gym.evaluation.study import EvaluateConfig, evaluate

__all__ = ["ConditionResult", "EvaluateConfig", "Episode", "evaluate", "mcnemar_exact", "run_condition",
           "seed_summary", "wilson_interval"]
