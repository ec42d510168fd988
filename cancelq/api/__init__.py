"""The HTTP API (``cancelq api``: FastAPI on uvicorn, in ``app.py`` and the ``routes_*`` modules).

Importing this package imports no web framework: ``from cancelq.api import CancelQ`` still gives the Python
API (``cancelq.client``), as it did when this was a module aliasing it.
"""

from __future__ import annotations

from cancelq.client import *  # noqa: F403 (the Python API's whole surface, as the old alias module gave it)
from cancelq.client import __all__  # noqa: F401
