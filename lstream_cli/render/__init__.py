"""Rendering: the only layer that imports rich. It formats, it never measures.

``console`` holds the stderr console and the one-line message helpers;
each command has its own module (``get``, ``bench``, ``compare``, ``serve``)
whose ``format_*`` functions return renderables and ``print_*`` functions
own the output. ``jsonout`` writes result files whole or not at all.
"""

from __future__ import annotations
