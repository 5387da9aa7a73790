"""Reports: SQL over the event log.

:func:`compute_report` is the one entry point (``callflow report`` and the
simulator's daily figures); :func:`rebuild_rollup` rebuilds the roll-up it reads.
"""

from callflow.reports.kpis import compute_report
from callflow.reports.rollup import rebuild_rollup, refresh_rollup

__all__ = ["compute_report", "rebuild_rollup", "refresh_rollup"]
