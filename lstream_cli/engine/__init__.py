"""The measuring engines. They never print: results go to a sink or a return value.

``single`` drives one request over blocking sockets (``get``, compare-modes);
the load engine (``bench``) drives many over asyncio; both parse with the
one client core (``core``, llhttp through httptools).
"""

from __future__ import annotations
