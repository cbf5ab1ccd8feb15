"""The distillation experiment on real data and real models (``kdbound distill``).

A layer between ``io`` and ``render``: it fits scikit-learn compatible models
(imported inside functions, never on the start-up path), runs them on local
processes or a Dask cluster, and hands rows of ``kdbound estimate``'s runs format
to the runs file.  ``runner.run_distill`` is the entry point.
"""
