"""Typed errors. Library code raises these; only the CLI prints them and picks exit codes.

Exit codes (``scan2ad.cli``): 0 ok, 1 failure (:class:`Scan2adError` and anything unexpected),
2 bad input (:class:`InputError` and its subclasses, and click usage errors).
"""

from __future__ import annotations

from pathlib import Path


class Scan2adError(Exception):
    """A failure of a stage that is not the user's input's fault (exit code 1)."""


class InputError(Scan2adError):
    """Bad input given by the user: a file, a setting, a missing dependency (exit code 2).

    ``path`` names the offending file when there is one; the message always says the problem.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class FormatError(InputError):
    """A file that cannot be parsed: truncated, wrong header, wrong field count."""


class ValidationError(InputError):
    """A file that parses but whose content is invalid (empty cloud, NaN coordinates, ...)."""


class SchemaVersionError(InputError):
    """A JSON file written by an unknown schema version of scan2ad."""


class UnitFailedError(Scan2adError):
    """One or more executor units failed; ``failures`` lists (unit key, description, error)."""

    def __init__(self, failures: list[tuple[str, str, str]]):
        self.failures = failures
        lines = [f"{len(failures)} unit(s) failed:"]
        lines += [f"  - {desc} [{key[:12]}]: {err}" for key, desc, err in failures]
        super().__init__("\n".join(lines))


def run_script(main) -> None:
    """Run a benchmark script's ``main()`` as the CLI would: bad input (:class:`InputError`) is
    one line on stderr and exit code 2, never a traceback."""
    import sys

    try:
        main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
