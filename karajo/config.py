"""The configuration: `[karajo]`, `[job]`, `[job.http]`, `[notif]` and users.

`load_environment` reads the main file, `job.d/*.conf`, `job_http.d/*.conf`
and `user.conf` under `dir_base`, checks every value and returns one
`Environment`.  Every problem found is reported at once, each as
`FILE:LINE: what is wrong`.  A program using karajo as a library builds the
same dataclasses in code and calls `Environment.validate`.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from karajo import ini
from karajo.duration import MINUTE, SECOND, parse_duration
from karajo.errors import ConfigError, ConfigErrors
from karajo.schedule import Schedule, ScheduleError, parse_schedule
from karajo.webhook_auth import (
    DEFAULT_HEADER_SIGN,
    SOURCEHUT_PUBLIC_KEY,
    decode_ed25519_public_key,
    is_known_auth_kind,
    normalize_auth_kind,
)

if TYPE_CHECKING:
    from karajo.log_store import RunLog

DEFAULT_CONFIG_FILE = "/etc/karajo/karajo.conf"
DEFAULT_LOG_RETENTION = 5
# GitHub caps webhook payloads at 25 MB; the default admits all of them.
DEFAULT_MAX_BODY_SIZE = 25 * 1024 * 1024
MINIMUM_INTERVAL = MINUTE
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")
HTTP_REQUEST_TYPES = ("query", "form", "json")
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
NOTIF_KINDS = ("email",)
# Implicit TLS (RFC 8314) and STARTTLS submission (RFC 6409) ports.
SMTP_DEFAULT_PORTS = {"smtps": 465, "smtp+starttls": 587}
DEFAULT_MAX_LOG_SIZE = 1024 * 1024

# An async callable doing the work of a job defined in code; it writes to
# the run's log and fails the run by raising.
JobCall = Callable[["RunLog"], Awaitable[None]]


@dataclass
class KarajoConfig:
    """The `[karajo]` section."""

    name: str = "karajo"
    listen_address: str = "127.0.0.1:31937"
    dir_base: str = "/"
    dir_public: str = ""
    secret: str = ""
    http_timeout: int = 5 * MINUTE
    max_job_running: int = 1
    is_development: bool = False
    # Beyond the original: limits and keys it hard-codes.
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    sourcehut_public_key: str = SOURCEHUT_PUBLIC_KEY
    # How long a stop waits for running runs before canceling them.
    shutdown_timeout: int = 30 * SECOND
    # Signed API calls whose _karajo_epoch is further than this from now are
    # refused, so a captured request cannot be replayed later; 0 turns it off.
    signature_max_age: int = 5 * MINUTE
    # Set when `secret` was empty and karajo made one up for this start.
    is_secret_generated: bool = False


@dataclass
class JobBaseConfig:
    """What exec jobs and HTTP jobs share."""

    name: str
    description: str = ""
    schedule: str = ""
    timezone: str = "UTC"
    interval: int = 0
    log_retention: int = DEFAULT_LOG_RETENTION
    notif_on_success: list[str] = field(default_factory=list)
    notif_on_failed: list[str] = field(default_factory=list)
    secret: str = ""
    header_sign: str = DEFAULT_HEADER_SIGN
    # Where the section was read, for messages; empty for jobs made in code.
    source: str = ""
    # The line of each key, so that a message points at it.
    key_lines: dict[str, int] = field(default_factory=dict, repr=False)
    # Filled by validate().
    id: str = ""
    parsed_schedule: Schedule | None = None

    @property
    def has_timer(self) -> bool:
        return self.parsed_schedule is not None or self.interval > 0


@dataclass
class JobConfig(JobBaseConfig):
    """A `[job "NAME"]`: commands (or a callable) run by timer or webhook."""

    path: str = ""
    auth_kind: str = "hmac-sha256"
    commands: list[str] = field(default_factory=list)
    call: JobCall | None = None
    # Beyond the original: a run longer than this is canceled; 0 is none.
    timeout: int = 0


@dataclass
class JobHttpConfig(JobBaseConfig):
    """A `[job.http "NAME"]`: one signed HTTP request on a timer."""

    http_method: str = "GET"
    http_url: str = ""
    http_request_type: str = "query"
    http_headers: list[str] = field(default_factory=list)
    # 0 means the global [karajo] http_timeout; negative means none.
    http_timeout: int = 0
    http_insecure: bool = False


@dataclass(frozen=True)
class SmtpServer:
    """A checked `smtp_server` URL."""

    host: str
    port: int
    is_implicit_tls: bool

    def __str__(self) -> str:
        scheme = "smtps" if self.is_implicit_tls else "smtp+starttls"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


@dataclass
class NotifConfig:
    """A `[notif "NAME"]`: where to send e-mail about finished runs.

    `smtp_user` and `smtp_password` keep the text of the file; a value
    starting with `$` names an environment variable, read by validate()
    into `user` and `password`.
    """

    name: str
    kind: str = ""
    smtp_server: str = ""
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_insecure: bool = False
    mail_from: str = ""
    to: list[str] = field(default_factory=list)
    # Beyond the original: a longer log is cut in the middle.
    max_log_size: int = DEFAULT_MAX_LOG_SIZE
    source: str = ""
    # The line of each key in the file, to point errors at it.
    key_lines: dict[str, int] = field(default_factory=dict, repr=False)
    # Filled by validate().
    server: SmtpServer | None = None
    user: str = ""
    password: str = field(default="", repr=False)


@dataclass
class Environment:
    """Everything karajo needs to run, read from files or built in code."""

    karajo: KarajoConfig = field(default_factory=KarajoConfig)
    jobs: dict[str, JobConfig] = field(default_factory=dict)
    http_jobs: dict[str, JobHttpConfig] = field(default_factory=dict)
    notifs: dict[str, NotifConfig] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    config_file: str = ""
    warnings: list[str] = field(default_factory=list)
    is_validated: bool = False

    @property
    def base(self) -> Path:
        return Path(self.karajo.dir_base)

    def validate(self) -> None:
        """Check every job and fill derived values; raise ConfigErrors.

        Called again after a success it does nothing, so a program may add
        jobs, validate, and hand the environment to the server.
        """
        if self.is_validated:
            return
        errors: list[ConfigError] = []
        _validate_karajo(self, errors)
        _validate_notifs(self, errors)
        _validate_jobs(self, errors)
        if errors:
            raise ConfigErrors(errors)
        self.is_validated = True


def make_job_id(name: str) -> str:
    """Turn a job name into its ID, the way the original does."""
    allowed = set(string.ascii_lowercase + string.digits + "-_")
    chars = []
    for byte in name.encode("utf-8"):
        char = chr(byte).lower() if byte < 128 else "_"
        chars.append(char if char in allowed else "_")
    job_id = "".join(chars) or "_"
    if not (job_id[0].isalpha() or job_id[0] == "_"):
        job_id = "_" + job_id
    return job_id


# Reading files.


def load_environment(config_file: str | os.PathLike[str]) -> Environment:
    """Read the main file and every file under its dir_base; validate all."""
    main_path = Path(config_file)
    env = Environment(config_file=str(main_path))
    errors: list[ConfigError] = []
    reader = _Reader(env, errors)

    main_sections = _read(main_path, errors, required=True)
    reader.read_karajo(main_sections, main_path)
    reader.read_jobs(main_sections, is_main_file=True)

    etc = env.base / "etc" / "karajo"
    for directory in ("job.d", "job_http.d"):
        for path in _conf_files(etc / directory, errors):
            reader.read_jobs(_read(path, errors, required=True))
    user_file = etc / "user.conf"
    if user_file.exists():
        reader.read_users(_read(user_file, errors, required=True))

    # Validate even after read errors, so one pass reports every problem.
    _validate_karajo(env, errors)
    _validate_notifs(env, errors)
    _validate_jobs(env, errors)
    if errors:
        raise ConfigErrors(errors)
    env.is_validated = True
    return env


def _read(path: Path, errors: list[ConfigError], required: bool) -> list[ini.Section]:
    try:
        return ini.read_file(path)
    except ConfigError as error:
        if required or path.exists():
            errors.append(error)
        return []


def _conf_files(directory: Path, errors: list[ConfigError]) -> list[Path]:
    """Regular `*.conf` files of a directory, not hidden, in name order."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as error:
        errors.append(
            ConfigError(f"cannot list: {error.strerror}", file=str(directory))
        )
        return []
    return [
        directory / name
        for name in names
        if name.endswith(".conf")
        and not name.startswith(".")
        and (directory / name).is_file()
    ]


class _Reader:
    """Turns INI sections into the dataclasses, collecting every error."""

    def __init__(self, env: Environment, errors: list[ConfigError]) -> None:
        self.env = env
        self.errors = errors

    def error(self, where: ini.Section | ini.Entry, message: str, file: str) -> None:
        self.errors.append(ConfigError(message, file=file, line=where.line))

    def warn(self, file: str, line: int, message: str) -> None:
        self.env.warnings.append(f"{file}:{line}: {message}")

    def read_karajo(self, sections: list[ini.Section], main_path: Path) -> None:
        config = self.env.karajo
        for section in sections:
            if section.name != "karajo":
                continue
            for entry in section.entries:
                self._karajo_key(config, section, entry)
        base = Path(config.dir_base)
        if not base.is_absolute():
            # Relative to the file, so the same file works from any directory.
            base = main_path.resolve().parent / base
        config.dir_base = os.path.normpath(base)
        if config.dir_public and not os.path.isabs(config.dir_public):
            config.dir_public = os.path.normpath(
                main_path.resolve().parent / config.dir_public
            )

    def _karajo_key(
        self, config: KarajoConfig, section: ini.Section, entry: ini.Entry
    ) -> None:
        setter = _KARAJO_KEYS.get(entry.key)
        if setter is None:
            self.warn(
                section.file,
                entry.line,
                f"unknown key {entry.key!r} in [karajo] ignored",
            )
            return
        try:
            setter(config, entry.value)
        except ValueError as error:
            self.error(entry, f"[karajo] {entry.key}: {error}", section.file)

    def read_jobs(
        self, sections: list[ini.Section], is_main_file: bool = False
    ) -> None:
        for section in sections:
            handler = {
                "job": self._job,
                "job.http": self._job_http,
                "notif": self._notif,
            }.get(section.name)
            if handler is not None:
                handler(section)
            elif section.name == "karajo" and not is_main_file:
                self.warn(
                    section.file,
                    section.line,
                    "[karajo] is read from the main file only; this one is ignored",
                )
            elif section.name not in ("karajo", "user"):
                self.warn(
                    section.file,
                    section.line,
                    f"unknown section [{section.name}] ignored",
                )

    def _named(self, section: ini.Section) -> str | None:
        if section.subsection is None:
            self.error(
                section,
                f'[{section.name}] needs a name: [{section.name} "NAME"]',
                section.file,
            )
            return None
        return section.subsection

    def _job(self, section: ini.Section) -> None:
        name = self._named(section)
        if name is None:
            return
        job = self.env.jobs.get(name)
        if job is None:
            job = JobConfig(name=name, source=f"{section.file}:{section.line}")
            self.env.jobs[name] = job
        self._apply(section, job, {**_BASE_KEYS, **_JOB_KEYS})

    def _job_http(self, section: ini.Section) -> None:
        name = self._named(section)
        if name is None:
            return
        job = self.env.http_jobs.get(name)
        if job is None:
            job = JobHttpConfig(name=name, source=f"{section.file}:{section.line}")
            self.env.http_jobs[name] = job
        self._apply(section, job, {**_BASE_KEYS, **_JOB_HTTP_KEYS})

    def _notif(self, section: ini.Section) -> None:
        name = self._named(section)
        if name is None:
            return
        notif = self.env.notifs.setdefault(
            name, NotifConfig(name=name, source=f"{section.file}:{section.line}")
        )
        for entry in section.entries:
            notif.key_lines[entry.key] = entry.line
        self._apply(section, notif, _NOTIF_KEYS)

    def _apply(self, section: ini.Section, job: Any, keys: dict[str, _Setter]) -> None:
        for entry in section.entries:
            setter = keys.get(entry.key)
            if setter is None:
                self.warn(
                    section.file,
                    entry.line,
                    f'unknown key {entry.key!r} in [{section.name} "{job.name}"] ignored',
                )
                continue
            job.key_lines[entry.key] = entry.line
            try:
                setter(job, entry.value)
            except ValueError as error:
                self.error(entry, f"{entry.key}: {error}", section.file)
            if entry.key == "command":
                self._warn_changed_command(section.file, entry)

    def _warn_changed_command(self, file: str, entry: ini.Entry) -> None:
        """Say where git-config rules made a command differ from its text."""
        if entry.comment_cut:
            self.warn(
                file,
                entry.line,
                f"command runs as {entry.value!r}: the text after "
                "an unquoted # or ; is a comment; quote the command to keep it",
            )
        value_is_quoted = entry.raw.strip().startswith(
            '"'
        ) and entry.raw.strip().endswith('"')
        if entry.quotes_removed and not value_is_quoted:
            self.warn(
                file,
                entry.line,
                f"command runs as {entry.value!r}: double quotes "
                'are removed by the configuration syntax; escape them as \\" to keep them',
            )

    def read_users(self, sections: list[ini.Section]) -> None:
        for section in sections:
            if section.name != "user":
                self.warn(
                    section.file,
                    section.line,
                    f'section [{section.name}] ignored: user.conf holds [user "NAME"] only',
                )
                continue
            name = self._named(section)
            entry = section.get("password")
            if name is None:
                continue
            if entry is None or not entry.value.startswith(BCRYPT_PREFIXES):
                where = entry or section
                self.error(
                    where,
                    f'user "{name}": password must be a bcrypt hash starting '
                    "with $2a$, $2b$ or $2y$",
                    section.file,
                )
                continue
            self.env.users[name] = entry.value


# Key setters: each takes the dataclass and the raw value, raises ValueError.

_Setter = Callable[[Any, str], None]


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0", ""):
        return False
    raise ValueError(f"{value!r} is not a boolean (true or false)")


def _parse_positive_int(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise ValueError(f"{value!r} must be 1 or more")
    return number


def _parse_size(value: str) -> int:
    """A byte count with an optional K, M or G suffix (powers of 1024)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    if text[-1:] in ("K", "M", "G"):
        scale = 1024 ** ("KMG".index(text[-1]) + 1)
        text = text[:-1]
    try:
        return _parse_positive_int(text) * scale
    except ValueError:
        raise ValueError(f"{value!r} is not a size such as 25M or 1048576") from None


def _checked(value: str, check: Callable[[str], object]) -> str:
    """The stripped value once `check` accepts it; `check` raises ValueError."""
    value = value.strip()
    check(value)
    return value


def _set(attribute: str, convert: Callable[[str], Any] = str.strip) -> _Setter:
    def setter(target: Any, value: str) -> None:
        setattr(target, attribute, convert(value))

    return setter


def _append(attribute: str) -> _Setter:
    def setter(target: Any, value: str) -> None:
        getattr(target, attribute).append(value.strip())

    return setter


def _set_secret(target: Any, value: str) -> None:
    # Secrets are compared byte for byte: keep inner text exactly.
    target.secret = value.strip()


_KARAJO_KEYS: dict[str, _Setter] = {
    "name": _set("name"),
    "listen_address": _set(
        "listen_address", lambda value: _checked(value, _split_listen_address)
    ),
    "dir_base": _set("dir_base"),
    "dir_public": _set("dir_public"),
    "secret": _set_secret,
    "http_timeout": _set("http_timeout", parse_duration),
    "max_job_running": _set("max_job_running", _parse_positive_int),
    "is_development": _set("is_development", _parse_bool),
    "max_body_size": _set("max_body_size", _parse_size),
    "sourcehut_public_key": _set(
        "sourcehut_public_key", lambda value: _checked(value, decode_ed25519_public_key)
    ),
    "shutdown_timeout": _set("shutdown_timeout", parse_duration),
    "signature_max_age": _set("signature_max_age", parse_duration),
}

_BASE_KEYS: dict[str, _Setter] = {
    "description": _set("description"),
    "schedule": _set("schedule"),
    "timezone": _set("timezone"),
    "interval": _set("interval", parse_duration),
    "log_retention": _set("log_retention", _parse_positive_int),
    "notif_on_success": _append("notif_on_success"),
    "notif_on_failed": _append("notif_on_failed"),
    "secret": _set_secret,
    "header_sign": _set("header_sign"),
}

_JOB_KEYS: dict[str, _Setter] = {
    "path": _set("path"),
    "auth_kind": _set("auth_kind"),
    "command": _append("commands"),
    "timeout": _set("timeout", parse_duration),
}

_JOB_HTTP_KEYS: dict[str, _Setter] = {
    "http_method": _set("http_method"),
    "http_url": _set("http_url"),
    "http_request_type": _set("http_request_type"),
    "http_header": _append("http_headers"),
    "http_timeout": _set("http_timeout", parse_duration),
    "http_insecure": _set("http_insecure", _parse_bool),
}

_NOTIF_KEYS: dict[str, _Setter] = {
    "kind": _set("kind"),
    "smtp_server": _set("smtp_server"),
    "smtp_user": _set("smtp_user"),
    # Kept exactly: a password may begin or end with a space.
    "smtp_password": _set("smtp_password", str),
    "smtp_insecure": _set("smtp_insecure", _parse_bool),
    "from": _set("mail_from"),
    "to": _append("to"),
    "max_log_size": _set("max_log_size", _parse_size),
}


# Validation, shared by files and code.


def _validate_karajo(env: Environment, errors: list[ConfigError]) -> None:
    config = env.karajo
    where = env.config_file or "[karajo]"
    if not config.secret:
        config.secret = _random_secret()
        config.is_secret_generated = True
    try:
        _split_listen_address(config.listen_address)
    except ValueError as error:
        errors.append(ConfigError(f"[karajo] listen_address: {error}", file=where))
    try:
        decode_ed25519_public_key(config.sourcehut_public_key)
    except ValueError as error:
        errors.append(
            ConfigError(f"[karajo] sourcehut_public_key: {error}", file=where)
        )


def _random_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def _split_listen_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"{address!r} is not HOST:PORT, like 127.0.0.1:31937")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def listen_host_port(config: KarajoConfig) -> tuple[str, int]:
    """The host and port of `listen_address`; an empty host means all."""
    return _split_listen_address(config.listen_address)


def _validate_notifs(env: Environment, errors: list[ConfigError]) -> None:
    for notif in env.notifs.values():
        for key, problem in _notif_problems(notif):
            message = f'[notif "{notif.name}"] {problem}'
            file, _, line = notif.source.rpartition(":")
            if not file:
                errors.append(ConfigError(message))
                continue
            line_number = notif.key_lines.get(key, int(line))
            errors.append(ConfigError(message, file=file, line=line_number))


def _notif_problems(notif: NotifConfig) -> list[tuple[str, str]]:
    """Each problem of a notification, with the key it is about."""
    problems: list[tuple[str, str]] = []
    if not notif.kind:
        problems.append(("kind", "kind is missing; set `kind = email`"))
    elif notif.kind not in NOTIF_KINDS:
        problems.append(
            ("kind", f"kind {notif.kind!r} is unknown; the only one is email")
        )
    try:
        notif.server = parse_smtp_server(notif.smtp_server)
    except ValueError as error:
        problems.append(("smtp_server", f"smtp_server {error}"))
    problems += _notif_login_problems(notif)
    if not notif.mail_from:
        problems.append(("from", "from is empty; set the sender's address"))
    elif not _is_mail_address(notif.mail_from):
        problems.append(("from", f"from {notif.mail_from!r} {_NOT_AN_ADDRESS}"))
    if not notif.to:
        problems.append(("to", "has no `to`; add a line per recipient"))
    for address in notif.to:
        if not _is_mail_address(address):
            problems.append(("to", f"to {address!r} {_NOT_AN_ADDRESS}"))
    if notif.max_log_size < 1:
        problems.append(("max_log_size", "max_log_size must be 1 or more"))
    return problems


def _notif_login_problems(notif: NotifConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    try:
        notif.user = _from_environment(notif.smtp_user)
    except ValueError as error:
        problems.append(("smtp_user", f"smtp_user: {error}"))
    try:
        notif.password = _from_environment(notif.smtp_password)
    except ValueError as error:
        problems.append(("smtp_password", f"smtp_password: {error}"))
    if not problems and bool(notif.user) != bool(notif.password):
        problems.append(
            ("smtp_user", "smtp_user and smtp_password go together; set both or none")
        )
    return problems


def _from_environment(value: str) -> str:
    """The value, or with a leading `$` the environment variable it names."""
    if not value.startswith("$"):
        return value
    name = value[1:]
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{value!r} is not $ and an environment variable's name")
    if name not in os.environ:
        raise ValueError(f"the environment variable {name} is not set")
    return os.environ[name]


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# Sending to a non-ASCII address needs SMTPUTF8 (RFC 6531), which karajo's
# client does not speak; a display name may hold any text.
_NOT_AN_ADDRESS = (
    "is not one ASCII address like user@example.org or Name <user@example.org>"
)


def _is_mail_address(value: str) -> bool:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return False
    addresses = getaddresses([value])
    if len(addresses) != 1:
        return False
    address = addresses[0][1]
    local, at, domain = address.rpartition("@")
    return bool(local and at and domain) and address.isascii() and " " not in address


def parse_smtp_server(url: str) -> SmtpServer:
    """Check an `smtps://` or `smtp+starttls://` URL; raise ValueError."""
    form = "like smtps://mail.example.org or smtp+starttls://mail.example.org:587"
    if not url:
        raise ValueError(f"is missing; set a URL {form}")
    # A password in the URL must not reach a message or a log.
    shown = repr(re.sub(r"//[^/]*@", "//...@", url))
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        raise ValueError(f"{shown} is not a server URL {form}") from None
    scheme = split.scheme.lower()
    if scheme not in SMTP_DEFAULT_PORTS:
        raise ValueError(f"{shown} must start with smtps:// or smtp+starttls://")
    if "@" in split.netloc:
        raise ValueError(f"{shown} holds a login; use smtp_user and smtp_password")
    if not split.hostname or split.path not in ("", "/") or split.query or port == 0:
        raise ValueError(f"{shown} is not a server URL {form}")
    port = port or SMTP_DEFAULT_PORTS[scheme]
    return SmtpServer(split.hostname, port, is_implicit_tls=scheme == "smtps")


def _validate_jobs(env: Environment, errors: list[ConfigError]) -> None:
    seen_ids: dict[tuple[str, str], str] = {}
    seen_paths: dict[str, str] = {}
    all_jobs: list[tuple[str, JobBaseConfig]] = [
        ("job", job) for job in env.jobs.values()
    ]
    all_jobs += [("job_http", job) for job in env.http_jobs.values()]
    for kind, job in all_jobs:
        problems = _validate_common(env, job)
        if isinstance(job, JobConfig):
            problems += _validate_exec(env, job, seen_paths)
        elif isinstance(job, JobHttpConfig):
            problems += _validate_http(job)
        other = seen_ids.setdefault((kind, job.id), job.name)
        if other != job.name:
            problems.append(
                (
                    "",
                    f'its ID "{job.id}" is the same as that of job "{other}"; rename one',
                )
            )
        errors.extend(_located(job, kind, key, problem) for key, problem in problems)


def _located(job: JobBaseConfig, kind: str, key: str, problem: str) -> ConfigError:
    """The error at the line of `key`, or of the section when no key is meant."""
    section = "job" if kind == "job" else "job.http"
    file, _, line = job.source.rpartition(":")
    message = f'[{section} "{job.name}"] {problem}'
    if not file:
        return ConfigError(message)
    return ConfigError(message, file=file, line=job.key_lines.get(key, int(line)))


def _validate_common(env: Environment, job: JobBaseConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    job.id = make_job_id(job.name)
    if job.log_retention < 1:
        problems.append(("log_retention", "log_retention must be 1 or more"))
    if not job.secret:
        job.secret = env.karajo.secret
    job.header_sign = job.header_sign or DEFAULT_HEADER_SIGN
    job.parsed_schedule = None
    if job.schedule:
        try:
            job.parsed_schedule = parse_schedule(job.schedule, job.timezone or "UTC")
        except ScheduleError as error:
            key = "timezone" if "time zone" in str(error) else "schedule"
            problems.append((key, f"{key}: {error}"))
    elif job.interval < 0:
        problems.append(("interval", "interval must not be negative"))
    elif 0 < job.interval < MINIMUM_INTERVAL:
        env.warnings.append(
            f"{job.source or job.name}: interval of {job.interval // SECOND}s "
            "raised to the minimum, 1m"
        )
        job.interval = MINIMUM_INTERVAL
    for notif in job.notif_on_success + job.notif_on_failed:
        if notif not in env.notifs:
            key = (
                "notif_on_success"
                if notif in job.notif_on_success
                else "notif_on_failed"
            )
            problems.append(
                (key, f'notification "{notif}" has no [notif "{notif}"] section')
            )
    return problems


def _validate_exec(
    env: Environment, job: JobConfig, seen_paths: dict[str, str]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not job.commands and job.call is None:
        problems.append(("", "has no command; add at least one `command =` line"))
    if job.auth_kind and not is_known_auth_kind(job.auth_kind):
        env.warnings.append(
            f"{job.source or job.name}: unknown auth_kind {job.auth_kind!r}, using hmac-sha256"
        )
    job.auth_kind = normalize_auth_kind(job.auth_kind)
    if job.timeout < 0:
        problems.append(("timeout", "timeout must not be negative"))
    if job.path:
        job.path = "/" + job.path.lstrip("/")
        other = seen_paths.setdefault(job.path, job.name)
        if other != job.name:
            problems.append(
                ("path", f'path "{job.path}" is already used by job "{other}"')
            )
    return problems


def _validate_http(job: JobHttpConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    job.http_method = (job.http_method or "GET").upper()
    if job.http_method not in HTTP_METHODS:
        methods = ", ".join(HTTP_METHODS)
        problems.append(
            ("http_method", f"http_method {job.http_method!r} is not one of {methods}")
        )
    job.http_request_type = (job.http_request_type or "query").lower()
    if job.http_request_type not in HTTP_REQUEST_TYPES:
        types = ", ".join(HTTP_REQUEST_TYPES)
        problems.append(
            (
                "http_request_type",
                f"http_request_type {job.http_request_type!r} is not one of {types}",
            )
        )
    if not job.http_url:
        problems.append(("", "http_url is required"))
    elif not job.http_url.startswith(("/", "http://", "https://")):
        problems.append(
            (
                "http_url",
                f"http_url {job.http_url!r} must start with /, http:// or https://",
            )
        )
    for header in job.http_headers:
        name, sep, _ = header.partition(":")
        if not sep or not name.strip():
            problems.append(
                ("http_header", f"http_header {header!r} is not `Name: value`")
            )
    return problems
