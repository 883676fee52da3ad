"""``rdu regress`` on a Dask cluster: collect, split by file, run on workers, report.

The modules import Dask only where a cluster is used, so collecting and reporting
work without it.
"""
