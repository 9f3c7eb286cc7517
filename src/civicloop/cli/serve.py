"""Command-line entry points of the HTTP capability: ``civicloop serve``, ``civicloop apikey …``,
``civicloop user …`` (mounted by :mod:`civicloop.cli.main`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from civicloop.accounts.service import (
    AccountRole,
    AccountService,
    accounts_for,
    demo_department_id,
    seed_demo_department_users,
    seed_demo_users,
)
from civicloop.bootstrap import open_city as open_registered_city
from civicloop.city.service import City, CityNotInitialised
from civicloop.city.store import registered_city_ids
from civicloop.cli.common import (
    CityOpt,
    CommandGroup,
    DatabaseOpt,
    JsonOpt,
    city_ids,
    console,
    err_console,
    fail,
    open_city,
)
from civicloop.kernel.i18n import both, t
from civicloop.kernel.vocabulary import Role
from civicloop.profile import ProfileError

# ---- serve --------------------------------------------------------------------------------------------


def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8311,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    photos: Annotated[str, typer.Option("--photos", help="photo directory")] = "./var/photos",
    batch: Annotated[bool, typer.Option("--batch", help="Open311 services as batch (tokens)")] = False,
    public_url: Annotated[str | None, typer.Option(help="public base URL for absolute links")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """服务 / serve the HTTP API: Open311 GeoReport v2 and the workflow API (OpenAPI at /openapi.json)."""
    import uvicorn

    from civicloop.geo.geocoding import warm_gazetteers
    from civicloop.http import ApiSettings, create_app
    from civicloop.photos.simulated import store_simulated_photos
    from civicloop.photos.store import LocalPhotoStore

    # One server serves every city registered in the database: --city only picks the default one (the
    # pages without a login); with several, Open311 and logins name theirs by jurisdiction_id.
    c = open_city(database, city if city is not None else city_ids(database)[0])
    # Every other city registered in the database answers under its jurisdiction_id too.
    others = []
    for other in registered_city_ids(c.engine):
        if other == c.id:
            continue
        try:
            others.append(open_registered_city(other, engine=c.engine))  # one pool for all cities
        except (CityNotInitialised, ProfileError, OSError) as exc:  # serve the rest; say which is missing
            err_console.print(
                f"[yellow]{both('cli.serve.skipped', city=other, reason=exc)}[/]", highlight=False
            )
    # CIVICLOOP_STATE_CACHE, CIVICLOOP_RATE_* … are read here: a bad value stops the start (exit 2)
    settings = ApiSettings(batch_services=batch, public_base_url=public_url)
    store = LocalPhotoStore(photos)
    store_simulated_photos(store)  # the simulated cases' photos open like any other
    app = create_app(c, photos=store, settings=settings, more_cities=others)
    if settings.triage:  # the intake geocodes text-only reports: its gazetteers built now, not on the first
        warm_gazetteers([c, *others])
    err_console.print(
        f"{both('cli.serve.listening', name=c.profile.name, city=c.id, host=host, port=port)}  "
        f"Open311: /open311/v2/discovery.json  OpenAPI: /openapi.json",
        highlight=False,
    )
    if public_url is None:
        err_console.print(t("cli.serve.no_public_url"), highlight=False)
    uvicorn.run(app, **uvicorn_options(host, port, log_level=log_level, access_log=access_log))


def uvicorn_options(host: str, port: int, **more: Any) -> dict[str, Any]:
    """How civicloop runs uvicorn: no ``server:`` banner (it names the software to every scanner);
    ``X-Forwarded-*`` is trusted only from the addresses in FORWARDED_ALLOW_IPS (uvicorn's default:
    127.0.0.1)."""
    return {"host": host, "port": port, "server_header": False, **more}


# ---- apikey -------------------------------------------------------------------------------------------

apikey_app = CommandGroup(help="Open311 API key: create, list, revoke.", no_args_is_help=True)


@apikey_app.command("create")
def apikey_create(
    jurisdiction: Annotated[
        str | None, typer.Option("--jurisdiction", help=both("cli.serve.help_jurisdiction"))
    ] = None,
    label: Annotated[str | None, typer.Option(help="who the key is for")] = None,
    database: DatabaseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """新建 / create a key and print it (shown only this once; only its hash is stored)."""
    c = open_city(database, jurisdiction)
    info, key = AccountService(c.engine, c.id).create_api_key(label)
    if json_out:
        sys.stdout.write(
            json.dumps({"key": key, "key_id": info.key_id, "jurisdiction": c.id, "label": label}) + "\n"
        )
        return
    sys.stdout.write(key + "\n")
    err_console.print(both("cli.serve.key_created", key_id=info.key_id, city=c.id))


def _cities(database: str | None, jurisdiction: str | None) -> list[City]:
    ids = [jurisdiction] if jurisdiction is not None else city_ids(database)
    return [open_city(database, i) for i in ids]


@apikey_app.command("revoke")
def apikey_revoke(
    key_or_id: Annotated[str, typer.Argument(help="the key, or its id (k…)")],
    jurisdiction: Annotated[str | None, typer.Option("--jurisdiction")] = None,
    database: DatabaseOpt = None,
) -> None:
    """吊销 / revoke a key: Open311 POSTs with it get 403 from now on."""
    for c in _cities(database, jurisdiction):
        if AccountService(c.engine, c.id).revoke_api_key(key_or_id):
            console.print(both("cli.serve.key_revoked", city=c.id))
            return
    fail(both("cli.serve.no_live_key"))


@apikey_app.command("list")
def apikey_list(
    jurisdiction: Annotated[str | None, typer.Option("--jurisdiction")] = None,
    database: DatabaseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """列表 / list keys (ids and state; the keys themselves are never stored)."""
    rows = [
        k for c in _cities(database, jurisdiction) for k in AccountService(c.engine, c.id).list_api_keys()
    ]
    if json_out:
        out = [
            {
                "key_id": k.key_id,
                "jurisdiction": k.jurisdiction,
                "label": k.label,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in rows
        ]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("key id", "jurisdiction", "label", "created", "state")
    for k in rows:
        state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(k.key_id, k.jurisdiction, k.label or "", f"{k.created_at:%Y-%m-%d %H:%M}", state)
    console.print(table)


# ---- user ---------------------------------------------------------------------------------------------

user_app = CommandGroup(help=both("cli.serve.help_user"), no_args_is_help=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option("--username", help="login name")],
    role: Annotated[str, typer.Option("--role", help=", ".join(r.value for r in AccountRole))],
    department: Annotated[
        str | None, typer.Option("--department", help="department id (department role)")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="password (default: a random one, printed)")
    ] = None,
    district: Annotated[
        list[str] | None, typer.Option("--district", help="scope: district code (repeat)")
    ] = None,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="scope: grid code (repeat)")] = None,
    name: Annotated[str | None, typer.Option("--name", help="display name")] = None,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """新建账号 / create a user with a role and a scope."""
    from civicloop.accounts.secrets import random_password

    c = open_city(database, city)
    chosen = password or random_password()
    user = accounts_for(c).create_user(
        username,
        chosen,
        role,
        department_id=department,
        district_codes=district or (),
        grid_codes=grid or (),
        display_name=name,
    )
    console.print(f"created {user.username} ({user.role.zh} / {user.role.en}) id {user.user_id}")
    if password is None:
        sys.stdout.write(f"password: {chosen}\n")


@user_app.command("list")
def user_list(database: DatabaseOpt = None, city: CityOpt = None, json_out: JsonOpt = False) -> None:
    """账号列表 / list users."""
    c = open_city(database, city)
    users = accounts_for(c).list_users()
    if json_out:
        out = [
            {
                "user_id": u.user_id,
                "username": u.username,
                "role": u.role.value,
                "department_id": u.department_id,
                "district_codes": list(u.district_codes),
                "grid_codes": list(u.grid_codes),
                "active": u.active,
            }
            for u in users
        ]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("username", "role", "department", "scope", "active")
    for u in users:
        scope = ", ".join([*u.district_codes, *u.grid_codes])
        table.add_row(u.username, f"{u.role.zh} {u.role.value}", u.department_id or "", scope, str(u.active))
    console.print(table)


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument()],
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True)],
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """改密码 / set a user's password."""
    c = open_city(database, city)
    accounts_for(c).set_password(username, password)
    console.print(both("cli.serve.password_changed", user=username))


@user_app.command("disable")
def user_disable(
    username: Annotated[str, typer.Argument()], database: DatabaseOpt = None, city: CityOpt = None
) -> None:
    """停用 / disable a user and revoke their tokens."""
    c = open_city(database, city)
    accounts_for(c).set_active(username, False)
    console.print(f"{username} disabled")


@user_app.command("enable")
def user_enable(
    username: Annotated[str, typer.Argument()], database: DatabaseOpt = None, city: CityOpt = None
) -> None:
    """启用 / enable a user again."""
    c = open_city(database, city)
    accounts_for(c).set_active(username, True)
    console.print(f"{username} enabled")


@user_app.command("import")
def user_import(
    path: Annotated[Path, typer.Argument(help=both("migrate.help_user_import"))],
    passwords: Annotated[
        Path | None, typer.Option("--passwords", help=both("migrate.help_user_passwords"))
    ] = None,
    generate: Annotated[
        bool, typer.Option("--generate/--no-generate", help=both("migrate.help_user_generate"))
    ] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate only; store nothing")] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """导入账号 / import users from a CSV file (all rows or none; docs/migration.md)."""
    from civicloop.accounts.importer import UserImportError, import_users, write_passwords

    c = open_city(database, city)
    try:
        checked = import_users(accounts_for(c), path, dry_run=True, generate=generate)
    except UserImportError as exc:
        fail(exc.render())
    if checked.generated and not dry_run:
        if passwords is None:
            fail(both("migrate.passwords_needed", n=len(checked.generated)))
        if passwords.exists():
            fail(both("migrate.passwords_exists", file=passwords))
    if dry_run:
        result = checked
    else:
        try:
            result = import_users(accounts_for(c), path, generate=generate)
        except UserImportError as exc:
            fail(exc.render())
        if result.generated and passwords is not None:
            write_passwords(passwords, result.generated)
    if json_out:
        out = {"count": len(result.users), "kept_hashes": result.kept_hashes,
               "generated": len(result.generated), "dry_run": dry_run,
               "passwords_file": str(passwords) if result.generated and not dry_run else None}  # fmt: skip
        sys.stdout.write(json.dumps(out) + "\n")
        return
    if dry_run:
        console.print(both("migrate.users_valid", n=len(result.users)))
        return
    console.print(
        both(
            "migrate.users_imported",
            n=len(result.users),
            kept=result.kept_hashes,
            generated=len(result.generated),
        )
    )
    if result.generated:
        console.print(both("migrate.passwords_written", file=passwords))


@user_app.command("grant")
def user_grant(
    username: Annotated[str, typer.Argument(help="a user of --city (their home city)")],
    to: Annotated[str, typer.Option("--to", help=both("migrate.help_grant_to"))],
    role: Annotated[str, typer.Option("--role", help=", ".join(r.value for r in AccountRole))] = "admin",
    remove: Annotated[bool, typer.Option("--remove", help=both("migrate.help_grant_remove"))] = False,
    database: DatabaseOpt = None,
    city: CityOpt = None,
) -> None:
    """跨城市成员 / let a user of one city act in another city of the same database (or --remove)."""
    c = open_city(database, city)
    if to not in city_ids(database) or to == c.id:
        fail(f"--to: {both('city.not_in_database', city=to)}")
    accounts_for(c).grant_city(username, to, role, remove=remove)
    key = "migrate.member_removed" if remove else "migrate.member_granted"
    console.print(both(key, user=username, home=c.id, city=to, role=role))


@user_app.command("seed-demo")
def user_seed_demo(database: DatabaseOpt = None, city: CityOpt = None, json_out: JsonOpt = False) -> None:
    """演示账号 / create (or reset) one demo user per role and print their passwords."""
    c = open_city(database, city)
    rows = seed_demo_users(c)
    units = seed_demo_department_users(c)
    if json_out:
        out = [{"username": u, "password": p, "role": r} for u, p, r in rows]
        out += [{"username": u, "password": p, "role": "department", "department_id": d} for u, p, d in units]
        sys.stdout.write(json.dumps(out) + "\n")
        return
    console.print(demo_accounts_table(c, rows, units))


def demo_accounts_table(
    city: City, users: list[tuple[str, str, str]], units: list[tuple[str, str, str]]
) -> Table:
    """The demo logins grouped by role: each role's login, and under 处置部门 one login per department unit
    (the district units that routing sends cases to included), with the unit's name."""
    table = Table(title=both("cli.demo.accounts", city=city.profile.name))
    table.add_column(both("cli.demo.col_role"))
    table.add_column(both("cli.demo.col_username"), no_wrap=True)  # never cut: they are typed in
    table.add_column(both("cli.demo.col_password"), no_wrap=True)
    table.add_column(both("cli.demo.col_unit"), overflow="fold")
    names = {d.id: d.name for d in city.profile.departments}
    for username, password, role in users:
        try:
            label = f"{Role(role).zh} / {role}"
        except ValueError:
            label = role
        extra = [
            (username, password, names.get(demo_department_id(city), "") if role == "department" else "")
        ]
        if role == AccountRole.DEPARTMENT.value:
            extra += [(u, p, names.get(d, d)) for u, p, d in units if u != username]
        for i, (u, p, unit) in enumerate(extra):
            table.add_row(label if i == 0 else "", u, p, unit, end_section=i == len(extra) - 1)
    return table
