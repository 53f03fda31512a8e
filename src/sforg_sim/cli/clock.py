"""``sforg-sim clock``: read or move the simulated clock of a running ``sforg-sim serve``.

``sforg-sim clock advance --to 02:00`` (the next 02:00 UTC), ``--to 2026-01-06T02:00:00Z``
or ``--seconds 3600`` asks the server's admin endpoint ``/sforg-sim/clock`` to move time
on purpose, running whatever falls due on the way (a 2 AM schedule fires); ``sforg-sim
clock show`` prints the time. The server is found as verify-org finds it: the flags, or
the ``SF_INSTANCE_URL`` / ``SF_ACCESS_TOKEN`` / ``REQUESTS_CA_BUNDLE`` lines ``serve``
prints (export them).
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from ..errors import UsageError
from .common import envelope, print_json

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``clock`` subcommand (``clock show``, ``clock advance``)."""
    p = sub.add_parser("clock", help="read or move the simulated clock of a running serve")
    inner = p.add_subparsers(dest="clock_command", metavar="ACTION", parser_class=type(p))
    inner.required = True
    show = inner.add_parser("show", help="print the server's simulated time")
    adv = inner.add_parser("advance", help="move the server's simulated time forward, "
                                           "running what falls due on the way")
    when = adv.add_mutually_exclusive_group(required=True)
    when.add_argument("--to", metavar="HH:MM|ISO",
                      help="the next HH:MM (UTC) on the simulated clock, or an ISO datetime")
    when.add_argument("--seconds", type=float, metavar="N", help="move forward N seconds")
    for q in (show, adv):
        q.add_argument("--instance-url", default=None,
                       help="the server (default: $SF_INSTANCE_URL)")
        q.add_argument("--access-token", default=None,
                       help="its token (default: $SF_ACCESS_TOKEN)")
        q.add_argument("--ca-bundle", default=None,
                       help="the CA to trust (default: $REQUESTS_CA_BUNDLE)")
        q.add_argument("--json", action="store_true", help="print the answer as JSON")
        q.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Ask the server; print its simulated time (and what is queued)."""
    import requests

    url = (args.instance_url or os.environ.get("SF_INSTANCE_URL") or "").strip().rstrip("/")
    token = (args.access_token or os.environ.get("SF_ACCESS_TOKEN") or "").strip()
    if not url.startswith(("https://", "http://")) or not token:
        raise UsageError("no server: pass --instance-url and --access-token, or export the "
                         "SF_INSTANCE_URL and SF_ACCESS_TOKEN lines sforg-sim serve prints")
    verify: str | bool = args.ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or True
    headers = {"Authorization": f"Bearer {token}"}
    endpoint = f"{url}/sforg-sim/clock"
    try:
        if args.clock_command == "advance":
            # inf and nan are not a time to move to (JSON cannot even carry them).
            if args.seconds is not None and not 0 <= args.seconds < math.inf:
                raise UsageError(f"--seconds must be a finite number >= 0, got "
                                 f"{args.seconds}")
            body: dict[str, Any] = ({"to": args.to} if args.to is not None
                                    else {"advance": args.seconds})
            resp = requests.post(endpoint, json=body, headers=headers, verify=verify,
                                 timeout=3600)
        else:
            resp = requests.get(endpoint, headers=headers, verify=verify, timeout=60)
    except requests.RequestException as e:
        raise OSError(f"cannot reach {url}: {type(e).__name__}") from None
    if resp.status_code != 200:
        try:
            reason = resp.json().get("error") or resp.text
        except ValueError:
            reason = resp.text
        raise UsageError(f"the server refused: HTTP {resp.status_code}: "
                         f"{str(reason).strip()[:200]}")
    state = resp.json()
    if args.json:
        print_json(envelope("clock", 0, clock=state))
    else:
        print(" ".join(f"{k}={v}" for k, v in state.items()))
    return 0
