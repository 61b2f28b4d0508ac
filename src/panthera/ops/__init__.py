"""Operating a deployment from the command line: backups and restores.

Nothing here runs inside the platform's processes; the `panthera backup`
commands (a thin layer in `panthera.ops.cli`) call into it.
"""
