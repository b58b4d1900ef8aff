"""`timoneiro certs check-expiration` and `timoneiro certs renew all|NAME`: kubeadm's `certs` commands over
a cluster's (or a server's) data dir, printing what kubeadm prints (see pki/renewal.py for what is covered)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import TYPE_CHECKING

from timoneiro.cli.options import add_cluster_options, data_dir

if TYPE_CHECKING:
    from timoneiro.pki.renewal import CertificateManager, Expiration

RESTART_NOTE = ("Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager and "
                "kube-scheduler, so that they can use the new certificates.")
RESTART_HOW = ("(`timoneiro down` then `timoneiro up` restarts a local cluster; restart `timoneiro server` "
               "where the API server runs alone)")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("certs", help="check the expiration of the cluster's certificates, renew them")
    commands = parser.add_subparsers(dest="certs_command", required=True)
    check = commands.add_parser("check-expiration", help="when each certificate and certificate authority expires")
    add_cluster_options(check)
    check.set_defaults(func=_check_expiration)
    renew = commands.add_parser("renew", help="renew one certificate, or all of them (never the CAs)")
    renew.add_argument("certificate", help='"all", or one name check-expiration lists (e.g. apiserver, admin.conf)')
    add_cluster_options(renew)
    renew.set_defaults(func=_renew)


def _manager(args: argparse.Namespace) -> CertificateManager | None:
    from timoneiro.pki.renewal import CertificateManager

    directory = data_dir(args)
    manager = CertificateManager(directory)
    if not os.path.isdir(manager.pki_dir):
        print(f"ERROR: {directory} holds no cluster PKI (no {manager.pki_dir})", file=sys.stderr)
        return None
    return manager


def _check_expiration(args: argparse.Namespace) -> int:
    manager = _manager(args)
    if manager is None:
        return 1
    now = dt.datetime.now(dt.UTC)
    rows = [["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "EXTERNALLY MANAGED"]]
    for renewable in manager.certificates():
        e = manager.expiration(renewable)
        rows.append([f"!MISSING! {renewable.name}", "", "", "", ""] if e is None else
                    [e.name, *_dates(e, now), renewable.ca, _yes_no(e.externally_managed)])
    print(tabulate(rows))
    print()
    rows = [["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED"]]
    for ca in manager.authorities():
        e = manager.ca_expiration(ca)
        rows.append([f"!MISSING! {ca}", "", "", ""] if e is None else
                    [e.name, *_dates(e, now), _yes_no(e.externally_managed)])
    print(tabulate(rows))
    return 0


def _renew(args: argparse.Namespace) -> int:
    from timoneiro.pki.renewal import Outcome

    manager = _manager(args)
    if manager is None:
        return 1
    if args.certificate == "all":
        chosen = manager.certificates()
    else:
        try:
            chosen = [manager.certificate(args.certificate)]
        except KeyError:
            known = ", ".join(r.name for r in manager.certificates())
            print(f'ERROR: unknown certificate "{args.certificate}": one of all, {known}', file=sys.stderr)
            return 1
    for renewable in chosen:
        outcome = manager.renew(renewable)
        if outcome is Outcome.MISSING:
            print(f"MISSING! {renewable.long_name}")
        elif outcome is Outcome.EXTERNAL:
            print(f"Detected external {renewable.ca}, {renewable.long_name} can't be renewed")
        else:
            print(f"{renewable.long_name} renewed")
    print(f"\n{RESTART_NOTE}\n{RESTART_HOW}")
    return 0


def _dates(e: Expiration, now: dt.datetime) -> list[str]:
    """EXPIRES as Go's "Jan 02, 2006 15:04 MST" in UTC, and RESIDUAL TIME as ShortHumanDuration."""
    return [e.not_after.astimezone(dt.UTC).strftime("%b %d, %Y %H:%M UTC"), short_human_duration(e.residual(now))]


def _yes_no(value: bool) -> str:
    return f"{'yes' if value else 'no':<8}"  # kubeadm pads it (%-8v)


def short_human_duration(delta: dt.timedelta) -> str:
    """apimachinery's duration.ShortHumanDuration: one unit, truncated ("364d", "9y"); "<invalid>" when past."""
    seconds = int(delta.total_seconds())  # Go truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    hours = seconds // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def tabulate(rows: list[list[str]]) -> str:
    """Go's tabwriter as kubeadm sets it up (minwidth 10, padding 3): every cell but a line's last is padded
    to its column's widest plus 3; the last is printed as it is."""
    widths = [max(10, max(len(row[i]) for row in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + row[-1]
                     for row in rows)
