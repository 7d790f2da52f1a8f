"""Recipe section ``run``: how the run is executed (executor, workers, chunks)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..schema import Context, setting


@dataclass(kw_only=True)
class RunConfig:
    """How the run is executed.

    Recipe section ``run``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> cfg = build(RunConfig, {"executor": "serial"}, "run", 1, Context(base_dir=Path(".")))
    >>> cfg.executor, cfg.workers, cfg.chunk_frames
    ('serial', 'auto', 16)
    """

    executor: Literal["processes", "serial", "dask"] = setting(
        "processes",
        doc="Where chunks run: 'processes' (a pool of local processes), 'serial' (this process "
        "only) or 'dask' (a Dask cluster: 'scheduler' if given, else a local cluster of "
        "'workers' processes). The command-line --workers, --scheduler and --dask-local override.",
    )
    workers: int | Literal["auto"] = setting(
        "auto",
        doc="Worker processes ('auto': one per CPU core, at most one per chunk). The integration "
        "engine is built once and shared by the workers. The command-line --workers overrides.",
        minimum=1,
        maximum=512,
    )
    scheduler: str | None = setting(
        None,
        doc="A running Dask scheduler: its address, e.g. 'tcp://10.0.0.5:8786', or the JSON file "
        "written by 'dask scheduler --scheduler-file' (relative to the recipe). Chunks then run on "
        "its workers, which must see the input files under the same paths (see docs/cluster.md).",
    )

    def check(self, ctx: Context):
        if self.scheduler is None:
            return
        if self.scheduler.lower().endswith(".json") and "://" not in self.scheduler:
            path = Path(self.scheduler).expanduser()
            path = path if path.is_absolute() else ctx.base_dir / path
            self.scheduler = str(path)  # may not exist yet: the scheduler writes it when it starts
        elif not re.match(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$", self.scheduler):
            yield "scheduler", (f"expected a scheduler address such as 'tcp://host:8786' or a scheduler "
                                f"file 'scheduler.json', found {self.scheduler!r}")
    chunk_frames: int = setting(
        16, doc="Frames per chunk: the unit of work handed to a worker and of checkpointing.", minimum=1, maximum=100000
    )
