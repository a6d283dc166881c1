"""`connector site add|list|remove` and `connector admin-link`: sites without an app install.

A token is never a command-line argument (shell history, `ps`): `--token-env VAR` and
`--pat-env VAR` name the environment variable (or `.env` entry) that holds it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from connector.tenant import CLOUD_SITE, DATACENTER_SITE, SiteAccess

if TYPE_CHECKING:
    from connector.settings import Settings
    from connector.storage.db import Engine
    from connector.storage.sites import SiteRepository

COMMANDS = frozenset({"site", "admin-link"})


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    site = commands.add_parser(
        "site", help="connect a Jira site without an app install (API token or PAT)"
    )
    actions = site.add_subparsers(dest="site_command", required=True)
    add = actions.add_parser(
        "add",
        help="check a site's credentials and connect it: Jira Cloud with --email and "
        "--token-env, Jira Data Center with --pat-env",
    )
    add.add_argument("--url", required=True, help="the site's address, https://...")
    add.add_argument("--email", help="Jira Cloud: the email of the account the token is of")
    add.add_argument(
        "--token-env", metavar="VAR", help="Jira Cloud: the variable holding its API token"
    )
    add.add_argument(
        "--pat-env",
        metavar="VAR",
        help="Jira Data Center: the variable holding a personal access token",
    )
    actions.add_parser("list", help="list the sites connected without an install")
    remove = actions.add_parser(
        "remove", help="stop acting for a site and forget its token; its data is kept"
    )
    remove.add_argument("--url", required=True)
    link = commands.add_parser(
        "admin-link",
        help="print a single-use, short-lived link that signs in to a site's admin pages",
    )
    link.add_argument("--site", required=True, metavar="URL", help="the connected site")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from connector.storage.db import DatabaseUnavailable, database_errors, make_engine

    engine = make_engine(settings.database_url)
    try:
        with database_errors():
            if args.command == "admin-link":
                return _admin_link(settings, engine, args.site)
            if args.site_command == "add":
                return _add(settings, engine, args)
            if args.site_command == "list":
                return _list(settings, engine)
            return _remove(settings, engine, args.url)
    except DatabaseUnavailable as exc:
        print(
            f"cannot use the database ({exc}); is DATABASE_URL right, and has "
            "`connector migrate` run?",
            file=sys.stderr,
        )
        return 2
    finally:
        engine.dispose()


def _sites(settings: Settings, engine: Engine) -> SiteRepository:
    from connector.storage.secrets import SecretBox
    from connector.storage.sites import SiteRepository

    return SiteRepository(engine, SecretBox(settings.encryption_keys), app_key=settings.app_key)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _site_url(settings: Settings, url: str, *, cloud: bool) -> str | None:
    from connector.connect.install import site_url_problem

    url = url.strip().rstrip("/")
    problem = site_url_problem(url, production=settings.is_production, atlassian=cloud)
    if problem is not None:
        print(f"--url {problem}", file=sys.stderr)
        return None
    return url


def _secret_from(variable: str) -> str | None:
    value = os.environ.get(variable, "").strip()
    if not value:
        print(
            f"{variable} is not set (or empty): put the token in that environment variable "
            "or in .env, never on the command line",
            file=sys.stderr,
        )
        return None
    return value


def _add(settings: Settings, engine: Engine, args: argparse.Namespace) -> int:
    from connector.sites.check import SiteCheckError, check_site
    from connector.storage.sites import NewSite

    cloud_args = args.email is not None or args.token_env is not None
    if cloud_args and args.pat_env is not None:
        return _fail("give --email and --token-env (Jira Cloud) or --pat-env (Data Center)")
    if args.pat_env is None and (args.email is None or args.token_env is None):
        return _fail("Jira Cloud needs both --email and --token-env; Data Center --pat-env")
    kind = DATACENTER_SITE if args.pat_env is not None else CLOUD_SITE
    url = _site_url(settings, args.url, cloud=kind == CLOUD_SITE)
    variable = args.pat_env or args.token_env
    token = _secret_from(variable)
    if url is None or token is None:
        return 2
    email = args.email.strip() if kind == CLOUD_SITE else None
    access = SiteAccess(kind=kind, email=email, token=token, account_id=None)
    try:
        checked = check_site(url, access, token_source=variable)
    except SiteCheckError as exc:
        return _fail(f"not added: {exc}")
    tenant_id, created = _sites(settings, engine).save(
        NewSite(
            url=url,
            access=checked.access,
            product_type="jira",
            description=checked.server_title,
            server_version=checked.server_version,
        )
    )
    print(
        f"{'added' if created else 'updated'} {url} (Jira {checked.deployment or kind} "
        f"{checked.server_version}) as tenant {tenant_id}, acting as {checked.account_name}"
    )
    print(f"open its admin pages with: connector admin-link --site {url}")
    return 0


def _list(settings: Settings, engine: Engine) -> int:
    sites = _sites(settings, engine).summaries()
    if not sites:
        print("no site is connected without an install")
        return 0
    for site in sites:
        state = "active" if site.installed and site.enabled else "removed"
        print(f"{site.tenant_id}\t{site.url}\t{site.kind}\t{site.account}\t{state}")
    return 0


def _remove(settings: Settings, engine: Engine, url: str) -> int:
    url = url.strip().rstrip("/")
    if not _sites(settings, engine).remove(url):
        return _fail(f"{url} is not a connected site (see `connector site list`)")
    print(f"removed {url}: its token is forgotten, its mail sources and log are kept")
    return 0


def _admin_link(settings: Settings, engine: Engine, url: str) -> int:
    """A sign-in link for the site's admin pages (connector.sites.signin); it is printed
    only, so it goes where the operator sends it, and is good once, for a short while."""
    from urllib.parse import quote

    from connector.sites.signin import LINK_LIFETIME, SIGNIN_PATH, hashed, make_link
    from connector.storage.admin_sessions import AdminSessions
    from connector.storage.secrets import SecretBox
    from connector.storage.tenants import TenantRepository

    url = url.strip().rstrip("/")
    tenant_id = _sites(settings, engine).tenant_id(url)
    tenant = None
    if tenant_id is not None:
        tenant = TenantRepository(engine, SecretBox(settings.encryption_keys)).by_id(tenant_id)
    if tenant is None or not tenant.active:
        return _fail(f"{url} is not a connected site (see `connector site list`)")
    link = make_link(settings.encryption_keys, tenant.id)
    AdminSessions(engine).add_link(hashed(link.token), tenant.id, link.expires_at)
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    print(f"{settings.base_url}{SIGNIN_PATH}?token={quote(link.token)}")
    print(
        f"(good once, for {minutes} minutes: open it in a browser to manage {url})", file=sys.stderr
    )
    return 0
