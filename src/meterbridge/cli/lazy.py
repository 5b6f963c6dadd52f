"""Modules that load on first use: a command's ``--help`` prints without the services behind it.

Every command module names the services it calls at its top, as usual, but through ``lazy``::

    if TYPE_CHECKING:
        from meterbridge.services import ingest
    else:
        ingest = lazy("meterbridge.services.ingest")

The type checker sees the real module; at run time ``ingest`` is the module itself, executed
(SQLAlchemy, Alembic and the rest behind it imported) the first time one of its attributes is
read, that is when the command runs. ``meterbridge usage --help`` then costs Typer and Rich,
not the whole service layer. A module someone already imported is returned as it is.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    """The module ``name``, run when first used (at once if it already was)."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as the import system does: ``meterbridge.services.ingest`` reachable from its package
        setattr(sys.modules[parent], child, module)
    return module
