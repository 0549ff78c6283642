"""territory-opt: balanced, explainable sales territory alignments with proof of quality.

The public API: :func:`load_scenario`, :func:`solve`, :func:`evaluate`, :func:`compare`,
:class:`Scenario` (and :meth:`Scenario.from_frames`, also :func:`scenario_from_frames`),
:class:`Plan`; the review loop: :func:`review`, :func:`apply_review`, :class:`ReviewOutcome`.
"""

import territory_opt.present.notebook  # noqa: F401  (registers the notebook HTML renderers)
from territory_opt.kpi.compare import Comparison, compare
from territory_opt.kpi.evaluate import Evaluation, evaluate
from territory_opt.plan import Plan
from territory_opt.scenario.frames import scenario_from_frames
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import Scenario
from territory_opt.solve import solve
from territory_opt.studies.review import ReviewOutcome, apply_review, review
from territory_opt.version import __version__

__all__ = ["Comparison", "Evaluation", "Plan", "ReviewOutcome", "Scenario", "__version__",
           "apply_review", "compare", "evaluate", "load_scenario", "review",
           "scenario_from_frames", "solve"]
