"""The report layer: everything that reads a stored run and shows it.

Statistics (:mod:`~evalkit.report.stats`, :mod:`~evalkit.report.correlation`), tables,
charts (:mod:`~evalkit.report.plots`), the run's summary as data and as one HTML page
(:mod:`~evalkit.report.summary`, :mod:`~evalkit.report.html`), the CI gate
(:mod:`~evalkit.report.gate`) and meta-evaluation views. Like every view, they read only a
:class:`~evalkit.run.record.Run` (its typed manifest and tables): labels, units and directions
come from the run's measures. Nothing here imports a strategy, a data loader or the runner.
"""
