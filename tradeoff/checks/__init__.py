"""Groups of checks for ``tradeoff verify``, one module per paper.

A module here is a group when it defines ``PREFIX`` (the first segment of its check ids,
e.g. ``"tsipras"``) and ``checks() -> list[tradeoff.verify.Check]``. Its docstring's
first line is the group's title. :func:`tradeoff.verify.discover_groups` finds them.
"""
