"""The book's runner: execute ``notebooks/<slug>.md`` per profile, build the book.

``python -m vidlib.runner run|build|list`` (:mod:`~vidlib.runner.cli`). Modules:

- :mod:`~vidlib.runner.notebooks`: the chapters, their parameters cell and ``needs``;
- :mod:`~vidlib.runner.params`: params files, grid variants and ``-p`` merged into the
  record (checked by :func:`vidlib.record.parse_record`) and the chapter knobs;
- :mod:`~vidlib.runner.order`: chapters ordered by ``needs``, the runs they need;
- :mod:`~vidlib.runner.cache`: run dirs, inputs hash, status;
- :mod:`~vidlib.runner.jobs`: a chapter run, executed with papermill;
- :mod:`~vidlib.runner.grids`: ablation grids, each run a ``run_experiment``;
- :mod:`~vidlib.runner.cluster`: a grid's runs as Slurm (or local) jobs;
- :mod:`~vidlib.runner.plan`: what one command runs, validated before it starts;
- :mod:`~vidlib.runner.build`: staging and the Jupyter Book build.
- :mod:`~vidlib.runner.publish`: the built book as a commit on ``gh-pages``.

What a notebook itself needs (``write_results``, ``resolve_out_dir``, grid results,
``record_summary``) is :mod:`vidlib.results`.
"""

from vidlib.runner.errors import MissingRun, RunFailed, RunnerError
from vidlib.runner.jobs import Job, execute, prepare
from vidlib.runner.notebooks import slugs
from vidlib.runner.plan import list_runs, run, run_all

__all__ = [
    "Job",
    "MissingRun",
    "RunFailed",
    "RunnerError",
    "execute",
    "list_runs",
    "prepare",
    "run",
    "run_all",
    "slugs",
]
