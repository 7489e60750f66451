"""A handler module that calls sys.exit() while it is imported."""

import sys

sys.exit(4)


async def handler(event: object, stream: object, context: object) -> None:  # pragma: no cover
    return None
