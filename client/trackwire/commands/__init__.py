"""The `trackwire` commands over the public API, one module per group: `experiments`,
`runs`, `artifacts`, `models`, `gc`, `completion`; `output` has what they share (help with
an example, --tracking-uri and --json, tables, exit codes).

Each module's `register(subparsers)` adds its group (or command) to the `trackwire`
parser and returns the group's subparsers; `trackwire.cli` calls them. `models.register`
takes `extra` registrars, which add commands to the `models` group.
"""

from __future__ import annotations

from trackwire.commands import artifacts, completion, experiments, gc, models, runs
from trackwire.commands.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, HelpFormatter, run

# The groups, in the order `trackwire --help` lists them (after `server`).
GROUPS = (experiments, runs, artifacts, models, gc, completion)

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "GROUPS", "HelpFormatter", "run"]
