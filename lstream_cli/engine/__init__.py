"""The measuring engines. They never print: results go to a sink or a return value.

``single`` drives one request over httpx (``get``, compare-modes);
the load engine (``bench``) drives many over asyncio + httptools.
"""

from __future__ import annotations
