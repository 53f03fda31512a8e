"""``sforg-sim serve``: seed (or open) an org and serve its REST API over HTTPS.

Prints, one per line and ready for ``export``::

    SF_INSTANCE_URL=https://127.0.0.1:PORT
    SF_ACCESS_TOKEN=00D...!AQ...
    REQUESTS_CA_BUNDLE=/tmp/sforg-sim-.../sforg-sim-ca.pem
    NODE_EXTRA_CA_CERTS=/tmp/sforg-sim-.../sforg-sim-ca.pem

then serves until interrupted (Ctrl-C / SIGINT / SIGTERM). Binds 127.0.0.1 unless
``--host`` says otherwise; ``--port 0`` (the default) picks a free port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from ..org import Org
from .common import add_org_arguments, build_org

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser("serve", help="serve the simulated REST API over HTTPS")
    add_org_arguments(p)
    p.add_argument("--org-file", metavar="PATH",
                   help="serve a copy of a saved org instead of seeding a scenario "
                        "(the file itself is not changed)")
    p.set_defaults(scenario="small")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Build the org, start the server, print the connection lines, serve until stopped."""
    # The server's dependencies (werkzeug, trustme) load only when it starts.
    from ..rest.auth import sessions
    from ..rest.server import serve

    # A saved org (e.g. from `replay --save-org`) is served from an in-memory copy, so
    # what clients do while it is served never changes the file they may reuse.
    org = Org.open(args.org_file, in_memory=True) if args.org_file else build_org(args)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (e.g. from a supervisor) stops as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    creds = sessions(org)
    with serve(org, host=args.host, port=args.port) as server:
        print(f"SF_INSTANCE_URL={server.instance_url}")
        print(f"SF_ACCESS_TOKEN={server.access_token}")
        print(f"REQUESTS_CA_BUNDLE={server.ca_bundle_path}")
        print(f"NODE_EXTRA_CA_CERTS={server.ca_bundle_path}")
        print(f"# username={creds.username} password={creds.password} "
              f"security_token={creds.security_token}")
        print(f"# serving {org!r} on {server.instance_url}; Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("sforg-sim: stopped", file=sys.stderr)
    return 0
