"""Review's repositories: the service's only Mongo calls (database `<ns>_review`), one per
aggregate, each ensuring the indexes its own queries read through.

- `units.py`: what a reviewer takes, submissions and consensus disputes alike (`submissions`,
  `disputes`): the queue, review leases, decisions;
- `submissions.py`: every submitted task, its route and outcome (`submissions`);
- `appeals.py`: an annotator's appeal of a rejection, kept on its submission;
- `annotators.py`: what sampling needs per project and annotator (`annotators`: how many
  submitted; `outcomes`: the recent human outcomes), apart so that recording submissions and
  deciding reviews never write the same document;
- `overlaps.py`: which submissions of an item are in while consensus waits for all of them;
- `gold.py`: gold items and their known answers (`gold`);
- `model_stats.py`: per project and model, how people treated its proposals (`model_stats`);
- `statements.py`: the facts scores and statements are counted from, and minimum wages
  (`wages`).

The project read model (`projects`) is shared/domain/projects.py. What spans two of these in
one transaction is a service of its own: `intake.py` (a submission arrives) and `decisions.py`
(a reviewer decides).
"""

from services.review.repositories.annotators import AnnotatorRepository
from services.review.repositories.appeals import AppealRepository
from services.review.repositories.gold import GoldRepository
from services.review.repositories.model_stats import ModelStatsRepository
from services.review.repositories.overlaps import OverlapRepository
from services.review.repositories.statements import StatementRepository
from services.review.repositories.submissions import SubmissionRepository
from services.review.repositories.units import UnitRepository

__all__ = [
    "AnnotatorRepository",
    "AppealRepository",
    "GoldRepository",
    "ModelStatsRepository",
    "OverlapRepository",
    "StatementRepository",
    "SubmissionRepository",
    "UnitRepository",
]
