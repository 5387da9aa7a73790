"""Reports: the line's measures for a period, computed in SQL from the event log.

The log is the source of truth, with the calendar changes stored while the line ran,
each counted from when it was made (:mod:`.timeline`); a roll-up (:mod:`.facts`, :mod:`.cells`,
:mod:`.rollup`) keeps a report over months fast and can always be rebuilt from it.
:func:`compute_report` is the one entry point (``callflow report`` and the simulator's
daily figures) and :mod:`.kpis` defines each measure; :func:`rebuild_rollup` rebuilds the
roll-up it reads. The result is a dict, written out as text or CSV (:mod:`.text`) or as a
self-contained page (:mod:`.html`).
"""

from callflow.reports.kpis import compute_report
from callflow.reports.rollup import rebuild_rollup, refresh_rollup

__all__ = ["compute_report", "rebuild_rollup", "refresh_rollup"]
