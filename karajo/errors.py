"""The exceptions karajo raises.

KarajoError
├── ConfigError     a configuration file or value is wrong (exit status 2)
├── SignatureError  a webhook or API request failed its signature check
└── JobError        a run failed; the message ends up in the run's log
"""

from __future__ import annotations


class KarajoError(Exception):
    """Root of every error karajo raises on purpose."""


class ConfigError(KarajoError):
    """A configuration problem, located at FILE:LINE when that is known."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class SignatureError(KarajoError):
    """A request's signature is missing, malformed or does not match."""


class StartError(KarajoError):
    """The server cannot start; the message says why and what to do."""


class JobError(KarajoError):
    """A run failed for a reason that belongs in its log."""


class ConfigErrors(ConfigError):
    """Several configuration problems found in one pass, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors
