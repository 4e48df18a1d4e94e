"""Command line: ``ircpsyc serve | init | check-config | mkpasswd``.

Exit status: 0 success, 1 failure (e.g. init refusing to overwrite), 2 bad
configuration or bad usage (click's own usage errors also exit 2).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ircpsyc import __version__
from ircpsyc.config import Config, ConfigError, Overrides, default_toml, load, network_servers
from ircpsyc.passwords import hash_password

EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _fail_config(err: ConfigError) -> NoReturn:
    # Plain click.echo, not rich: keys like "opers[1]" must not be read as markup.
    for error in err.all:
        click.echo(str(error), err=True)
    sys.exit(EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="ircpsyc")
def main() -> None:
    """ircpsyc: an IRC server whose channels are PSYC places."""


@main.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    metavar="FILE",
    default=None,
    help="Configuration file (TOML). Without it the built-in defaults are used.",
)
@click.option(
    "-l",
    "--listen",
    metavar="HOST:PORT",
    multiple=True,
    help="Plain IRC listener; repeatable. Replaces listen.irc from the file.",
)
@click.option(
    "-d",
    "--data-dir",
    metavar="DIR",
    default=None,
    help="Keep the database in DIR/ircpsyc.sqlite3 (overrides storage.path).",
)
@click.option("-n", "--name", metavar="SERVERNAME", default=None, help="Overrides server.name.")
def serve(
    config_path: str | None, listen: tuple[str, ...], data_dir: str | None, name: str | None
) -> None:
    """Run the server until SIGTERM or SIGINT; SIGHUP reloads the configuration."""
    overrides = Overrides(listen=listen, data_dir=data_dir, name=name)
    try:
        config = load(config_path, overrides)
    except ConfigError as err:
        _fail_config(err)
    # Imported late so `init`, `check-config` and `mkpasswd` stay fast and do not
    # pull in the event loop and everything behind it.
    from ircpsyc.server import serve as run_server

    sys.exit(run_server(config, config_path, overrides))


@main.command()
@click.argument("path", default="ircpsyc.toml", metavar="[PATH]")
@click.option("-f", "--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented configuration file with every default (default ./ircpsyc.toml)."""
    try:
        # "x" refuses an existing file atomically; no check-then-write race.
        with open(path, "w" if force else "x", encoding="utf-8") as fh:
            fh.write(default_toml())
    except FileExistsError:
        click.echo(f"{path}: already exists (use --force to overwrite)", err=True)
        sys.exit(EXIT_FAILURE)
    except OSError as exc:
        click.echo(f"{path}: cannot write: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(f"wrote {path}; check it with: ircpsyc check-config {path}")


@main.command("check-config")
@click.argument("file", metavar="FILE")
def check_config(file: str) -> None:
    """Validate FILE and summarise it; exit 2 if it is wrong."""
    try:
        config = load(file)
    except ConfigError as err:
        _fail_config(err)
    console = Console(highlight=False)
    table = Table(title=f"ircpsyc configuration: {file}", title_justify="left")
    table.add_column("setting", style="bold")
    table.add_column("value")
    listen = config.listen
    rows = [
        ("server name", config.server.name),
        ("network", config.server.network),
        ("listen (plain)", ", ".join(listen.irc) or "-"),
        ("listen (TLS)", ", ".join(listen.irc_tls) or "-"),
        ("web", _web_summary(config)),
        ("storage", config.storage.path),
        ("MOTD", f"{len(config.server.motd.splitlines())} line(s)" if config.server.motd else "-"),
        ("opers", str(len(config.opers))),
        ("server links", ", ".join(link.name for link in config.links) or "-"),
        ("network servers", ", ".join(network_servers(config))),
        ("STS", _sts_summary(config)),
        ("XMPP gateway", _xmpp_summary(config)),
    ]
    for key, value in rows:
        # Values are user text and may contain [brackets] that rich reads as markup.
        table.add_row(key, escape(value))
    console.print(table)
    console.print("OK", style="bold green")


def _web_summary(config: Config) -> str:
    listen = config.listen
    urls = [f"http://{entry}/" for entry in listen.web]
    urls += [f"https://{entry}/" for entry in listen.web_tls]
    urls += [f"{entry} (PROXY)" for entry in listen.web_proxy]
    if not urls:
        return "-"
    what = "web client and WebSocket" if config.web.client else "WebSocket only"
    return f"{', '.join(urls)}: {what}"


def _sts_summary(config: Config) -> str:
    if not config.listen.irc_tls or config.tls.sts_duration <= 0:
        return "off"
    return f"{config.tls.sts_duration} s"


def _xmpp_summary(config: Config) -> str:
    xmpp = config.xmpp
    if not xmpp.enabled:
        return "off"
    return f"{xmpp.domain} via {xmpp.server} ({len(xmpp.bridge)} bridged room(s))"


@main.command()
@click.argument("password", required=False)
def mkpasswd(password: str | None) -> None:
    """Print an argon2 hash of PASSWORD for [[opers]] password_hash.

    Without PASSWORD, prompt for it (hidden, asked twice); prefer that, since a
    password on the command line is visible to other users in the process list.
    """
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        click.echo("mkpasswd: empty password", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(hash_password(password))
