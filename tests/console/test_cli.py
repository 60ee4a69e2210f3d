"""``launch-control users add/list`` and ``launch-control console`` as a person runs them."""

from __future__ import annotations


def test_users_add_with_password_stdin_and_list(cli, cli_env):
    done = cli("users", "add", "lena", "--role", "lead", "--password-stdin", stdin="long-enough-pw\n")
    assert done.returncode == 0, done.stderr
    assert "added lena as lead" in done.stdout
    listed = cli("users", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("lena\tlead\tpassword\t")

    from launch_control.store.db import Store
    from launch_control.web.auth import authenticate

    store = Store(f"sqlite:///{cli_env['LAUNCH_CONTROL_DATA_DIR']}/launch-control.db", launch_id="promptforge-v3")
    assert authenticate(store, "lena", "long-enough-pw").role == "lead"
    assert store.events(action="user.add")[0]["actor"] == "tester"
    again = cli("users", "add", "lena", "--role", "viewer", "--password-stdin", stdin="another-long-pw\n")
    assert "updated lena as viewer" in again.stdout
    assert authenticate(store, "lena", "another-long-pw").role == "viewer"
    store.close()


def test_users_add_refuses_bad_input(cli):
    bad_role = cli("users", "add", "lena", "--role", "admin", "--password-stdin", stdin="long-enough-pw\n")
    assert bad_role.returncode == 2 and "invalid choice: 'admin'" in bad_role.stderr
    short = cli("users", "add", "lena", "--role", "lead", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr and "Traceback" not in short.stderr
    no_tty = cli("users", "add", "lena", "--role", "lead")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    bad_name = cli("users", "add", "no spaces", "--role", "lead", "--oidc")
    assert bad_name.returncode == 2 and "invalid user name" in bad_name.stderr


def test_users_add_oidc_account(cli):
    done = cli("users", "add", "lead@example.com", "--role", "lead", "--oidc")
    assert done.returncode == 0 and "(OIDC sign-in)" in done.stdout
    assert "lead@example.com\tlead\toidc" in cli("users", "list").stdout


def test_console_command_binds_loopback_by_default():
    from launch_control.cli import build_parser
    from launch_control.commands.console import console_argv

    args = build_parser().parse_args(["console"])
    assert args.port == 8501 and args.address == "127.0.0.1"
    argv = console_argv(8599)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.headless") + 1] == "true"
    assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    assert argv[argv.index("--server.port") + 1] == "8599"
    assert argv[4].endswith("console/app.py")


def test_console_bad_port_exits_2(cli):
    done = cli("console", "--port", "70000")
    assert done.returncode == 2 and "--port 70000" in done.stderr
