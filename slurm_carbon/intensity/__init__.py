"""Carbon intensity of electricity: providers behind one protocol, and the embedded default.

Modules (import what you need; nothing here is imported eagerly):

- ``base``: :class:`CiPoint`, kinds, signals and the :class:`IntensityProvider` protocol;
- ``embedded``: annual figures read from codecarbon's data files (always available;
  show :attr:`AnnualFigure.attribution` wherever they are used);
- ``trace``: CSV traces, and a provider over one;
- ``electricitymaps``, ``ukgrid``, ``watttime``: live providers over ``requests``
  (``http`` holds their timeouts, retries and one-line errors);
- ``chain``: the fallback chain (annual last) and :func:`best_series`
  (stored actuals, else live, else annual);
- ``series``: the points of a window, the steps of stored points; ``factory``: providers
  from the site config (points to and from the store: ``slurm_carbon.store.intensity``).

Units: gCO2e/kWh; times are aware UTC datetimes.
"""
