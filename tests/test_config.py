"""Loading karajo.conf, job.d/, job_http.d/ and user.conf."""

from __future__ import annotations

import pytest

from karajo.config import (
    Environment,
    JobConfig,
    KarajoConfig,
    load_environment,
    make_job_id,
)
from karajo.duration import MINUTE, SECOND
from karajo.errors import ConfigErrors


def errors_of(tree) -> list[str]:
    with pytest.raises(ConfigErrors) as raised:
        tree.load()
    return [str(error) for error in raised.value.errors]


@pytest.mark.parametrize(
    ("name", "job_id"),
    [
        ("Test job success", "test_job_success"),
        ("a-b_c9", "a-b_c9"),
        ("", "_"),
        ("9 lives", "_9_lives"),
        ("-dash", "_-dash"),
        ("Café", "caf__"),
        ("x.y/z", "x_y_z"),
    ],
)
def test_make_job_id_follows_original_rule(name, job_id):
    assert make_job_id(name) == job_id


def test_karajo_section_defaults(tree):
    tree.write("karajo.conf", f"[karajo]\ndir_base = {tree.base}\n")

    env = tree.load()

    config = env.karajo
    assert (config.name, config.listen_address) == ("karajo", "127.0.0.1:31937")
    assert (config.dir_public, config.max_job_running) == ("", 1)
    assert config.http_timeout == 5 * MINUTE
    assert config.is_development is False
    assert config.is_secret_generated and len(config.secret) == 32


def test_karajo_section_every_key(tree):
    tree.write(
        "karajo.conf",
        f"""\
        [KARAJO]
        Name = My karajo
        listen_address = 127.0.0.1:8080
        dir_base = {tree.base}
        dir_public = /srv/www
        secret = abc
        http_timeout = 90s
        max_job_running = 4
        is_development
        max_body_size = 2M
        """,
    )

    config = tree.load().karajo

    assert config.name == "My karajo"
    assert config.listen_address == "127.0.0.1:8080"
    assert config.dir_public == "/srv/www"
    assert (config.secret, config.is_secret_generated) == ("abc", False)
    assert config.http_timeout == 90 * SECOND
    assert config.max_job_running == 4
    assert config.is_development is True
    assert config.max_body_size == 2 * 1024 * 1024


def test_job_keys_and_defaults(tree):
    tree.write_main(
        """\
        [job "Build docs"]
        description = <b>docs</b>
        interval = 30s
        path = build
        auth_kind = GitHub
        log_retention = 10
        command = make docs  # builds
        command = echo done
        notif_on_failed = ops
        [notif "ops"]
        kind = email
        smtp_server = smtps://mail.example.test
        from = karajo@example.test
        to = ops@example.test
        """
    )

    env = tree.load()

    job = env.jobs["Build docs"]
    assert job.id == "build_docs"
    assert job.interval == MINUTE
    assert job.path == "/build"
    assert job.auth_kind == "github"
    assert job.header_sign == "X-Karajo-Sign"
    assert job.secret == "test-secret"
    assert job.commands == ["make docs", "echo done"]
    assert job.log_retention == 10
    assert job.notif_on_failed == ["ops"]
    assert any("raised to the minimum" in warning for warning in env.warnings)


def test_job_with_schedule_and_timezone(tree):
    tree.write_main(
        """\
        [job "nightly"]
        schedule = daily@02:30
        timezone = Europe/Berlin
        interval = 5m
        command = true
        """
    )

    job = tree.load().jobs["nightly"]

    assert job.parsed_schedule is not None
    assert job.parsed_schedule.timezone == "Europe/Berlin"


def test_unknown_auth_kind_falls_back_with_warning(tree):
    tree.write_main('[job "x"]\nauth_kind = bogus\ncommand = true\n')

    env = tree.load()

    assert env.jobs["x"].auth_kind == "hmac-sha256"
    assert any("unknown auth_kind 'bogus'" in warning for warning in env.warnings)


def test_job_d_reads_only_visible_regular_conf_files(tree):
    tree.write_main()
    tree.write("job.d/b.conf", '[job "b"]\ncommand = true\n')
    tree.write("job.d/a.conf", '[job "a"]\ncommand = true\n')
    tree.write("job.d/.hidden.conf", '[job "hidden"]\ncommand = true\n')
    tree.write("job.d/c.ini", '[job "ini"]\ncommand = true\n')
    tree.write("job.d/dir.conf/x.conf", '[job "in dir"]\ncommand = true\n')
    tree.write("job_http.d/h.conf", '[job.http "ping"]\nhttp_url = /x\n')

    env = tree.load()

    assert list(env.jobs) == ["a", "b"]
    assert list(env.http_jobs) == ["ping"]


def test_http_job_keys(tree):
    tree.write_main(
        """\
        [job.http "Ping"]
        http_method = post
        http_url = https://example.invalid/hook
        http_request_type = JSON
        http_header = Authorization: Bearer x
        http_header = X-A: b
        http_timeout = -1s
        http_insecure = true
        """
    )

    job = tree.load().http_jobs["Ping"]

    assert (job.http_method, job.http_request_type) == ("POST", "json")
    assert job.http_headers == ["Authorization: Bearer x", "X-A: b"]
    assert job.http_timeout == -SECOND
    assert job.http_insecure is True


def test_user_conf_loads_bcrypt_hashes(tree):
    tree.write_main()
    tree.write("user.conf", '[user "ana"]\npassword = $2y$10$abcdefghijklmnopqrstuv\n')

    assert tree.load().users == {"ana": "$2y$10$abcdefghijklmnopqrstuv"}


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ('[job "x"]\n', ':7: [job "x"] has no command'),
        (
            '[job "x"]\ncommand = a\ninterval = soon\n',
            ":9: interval: invalid duration 'soon'",
        ),
        ('[job "x"]\ncommand = a\nschedule = daily@25:00\n', ':9: [job "x"] schedule:'),
        (
            '[job "x"]\ncommand = a\nschedule = daily\ntimezone = Mars/Base\n',
            "unknown time zone",
        ),
        (
            '[job "x"]\ncommand = a\nlog_retention = 0\n',
            ":9: log_retention: '0' must be 1 or more",
        ),
        ('[job "x"]\ncommand = a\nnotif_on_success = nope\n', 'notification "nope"'),
        ("[job]\ncommand = a\n", ':7: [job] needs a name: [job "NAME"]'),
        (
            '[job "a b"]\ncommand = a\n[job "a_b"]\ncommand = b\n',
            'ID "a_b" is the same',
        ),
        (
            '[job "a"]\ncommand = a\npath = /p\n[job "b"]\ncommand = b\npath = p\n',
            'path "/p"',
        ),
        ('[job.http "h"]\nhttp_method = PATCH\nhttp_url = /x\n', "http_method 'PATCH'"),
        (
            '[job.http "h"]\nhttp_request_type = xml\nhttp_url = /x\n',
            "http_request_type 'xml'",
        ),
        ('[job.http "h"]\n', "http_url is required"),
        (
            '[job.http "h"]\nhttp_url = /x\nhttp_header = nocolon\n',
            "http_header 'nocolon'",
        ),
        ('[job "x"\n', ':7: expected "]" after subsection name'),
    ],
)
def test_errors_name_file_and_line(tree, jobs, expected):
    tree.write_main(jobs)

    [error] = errors_of(tree)

    assert error.startswith(str(tree.main_file) + ":")
    assert expected in error


def test_every_error_is_reported_at_once(tree):
    tree.write_main('[job "a"]\n[job "b"]\ninterval = x\ncommand = true\n')
    tree.write("job.d/bad.conf", '[job "c"]\n"oops\n')

    errors = errors_of(tree)

    assert len(errors) == 3
    assert any("bad.conf:2:" in error for error in errors)


def test_karajo_key_errors(tree):
    tree.write(
        "karajo.conf",
        f"[karajo]\ndir_base = {tree.base}\nmax_job_running = 0\nlisten_address = nowhere\n",
    )

    errors = errors_of(tree)

    assert any(":3: [karajo] max_job_running" in error for error in errors)
    assert any("listen_address" in error for error in errors)


def test_missing_main_file_is_an_error(tmp_path):
    with pytest.raises(ConfigErrors) as raised:
        load_environment(tmp_path / "none.conf")

    assert "cannot read" in str(raised.value)


def test_relative_dir_base_is_relative_to_the_file(tmp_path):
    etc = tmp_path / "etc" / "karajo"
    etc.mkdir(parents=True)
    (etc / "karajo.conf").write_text("[karajo]\ndir_base = ../..\n")

    env = load_environment(etc / "karajo.conf")

    assert env.karajo.dir_base == str(tmp_path)


def test_comment_or_quote_in_command_warns(tree):
    tree.write_main(
        '[job "x"]\ncommand = echo a; echo b\ncommand = echo "a  b"\n'
        'command = "echo c; echo d"\n'
    )

    env = tree.load()

    assert env.jobs["x"].commands == ["echo a", "echo a  b", "echo c; echo d"]
    assert sum("is a comment" in warning for warning in env.warnings) == 1
    assert sum("double quotes" in warning for warning in env.warnings) == 1


def test_environment_built_in_code_validates():
    async def work(run_log) -> None:
        run_log.line("hi")

    env = Environment(karajo=KarajoConfig(secret="s"))
    env.jobs["code job"] = JobConfig(name="code job", call=work, interval=MINUTE)

    env.validate()

    assert env.jobs["code job"].id == "code_job"
    assert env.jobs["code job"].secret == "s"


def test_empty_job_name_gets_id_underscore(tree):
    tree.write_main('[job ""]\ncommand = true\n')

    assert tree.load().jobs[""].id == "_"


@pytest.mark.parametrize("size", ["2M", "2MiB", "2MB", "2048K", "2048KiB"])
def test_max_body_size_units(tree, size):
    tree.write_main(karajo=f"max_body_size = {size}\n")

    assert tree.load().karajo.max_body_size == 2 * 1024 * 1024


def test_listen_address_error_names_its_line(tree):
    tree.write_main(karajo="listen_address = nowhere\n")

    [error] = errors_of(tree)

    assert error.startswith(f"{tree.main_file}:6: [karajo] listen_address:")


def test_karajo_section_outside_main_file_warns(tree):
    tree.write_main()
    tree.write("job.d/x.conf", "[karajo]\nsecret = other\n")

    env = tree.load()

    assert env.karajo.secret == "test-secret"
    assert any("main file only" in warning for warning in env.warnings)
