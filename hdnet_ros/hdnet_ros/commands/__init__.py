"""Sub-commands of the ``hdnet-ros`` command line.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
"""
