"""``sforg-sim serve``: seed (or open) an org and serve its REST API over HTTPS.

Prints, one per line and ready for ``export``::

    SF_INSTANCE_URL=https://127.0.0.1:PORT
    SF_ACCESS_TOKEN=00D...!AQ...
    REQUESTS_CA_BUNDLE=/tmp/sforg-sim-.../sforg-sim-ca.pem
    NODE_EXTRA_CA_CERTS=/tmp/sforg-sim-.../sforg-sim-ca.pem
    SF_JWT_KEY_FILE=/tmp/sforg-sim-.../connected-app-key.pem
    SF_JWT_CERT_FILE=/tmp/sforg-sim-.../connected-app-cert.pem

then a comment line with the login credentials (``SF_USERNAME``, ``SF_PASSWORD``,
``SF_SECURITY_TOKEN``, ``SF_CLIENT_ID``, ``SF_CLIENT_SECRET``), and serves until interrupted
(Ctrl-C / SIGINT / SIGTERM). Binds 127.0.0.1 unless ``--host`` says otherwise; ``--port 0``
(the default) picks a free port.

Credentials: by default the admin's password and security token and the connected app's
client id and secret are **random, new at every start**, so a server left running (or
bound to another address) cannot be logged into with the simulator's published test
values. ``--credentials fixed`` keeps those published test-only values
(``rest.auth.DEFAULT_PASSWORD`` ...), for scripts that log in without reading the output.
JWT bearer assertions must be signed with the key in ``SF_JWT_KEY_FILE`` (a pair made at
start), or with your own key when ``--jwt-cert`` gives its certificate.

The server runs the night (``rest.night.NightRunner``): jobs enqueued through the API
(``sf apex run --file start_v2.apex``) run at once in the background, as fast as the
machine allows, simulated time advancing by the cost model; an idle org's clock follows
wall time, so a 2 AM schedule fires at simulated 2 AM. ``--no-run-jobs`` leaves queued
jobs alone (the clock then stands still). To move time on purpose, ``POST
/sforg-sim/clock`` with ``{"to": "02:00"}`` or ``{"advance": 3600}`` and the same bearer
token (see README, "Rehearse the runbook").

``--org-file`` is served from an in-memory copy: Ctrl-C (or SIGTERM) never leaves the
file half-written, because the file is not touched. ``--save-on-exit PATH`` writes the
served org to PATH when the server stops (after the job runner has stopped and committed;
atomic, as :meth:`Org.save`); jobs still queued at that moment are not carried over
(their AsyncApexJob rows keep the status they had).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..nightly import SOURCE_OBJECT
from ..org import Org
from .common import (
    add_org_arguments,
    build_org,
    check_writable,
    envelope,
    print_json,
    refuse_with_org_file,
)

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser("serve", help="serve the simulated REST API over HTTPS")
    add_org_arguments(p)
    p.add_argument("--org-file", metavar="PATH",
                   help="serve a copy of a saved org instead of seeding a scenario "
                        "(the file itself is not changed; it keeps its own records, "
                        "edition and licences, so --scenario, --records, --seed, "
                        "--edition and --licenses are refused with it)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=_port, default=0,
                   help="port, 0 to 65535 (default 0: a free port)")
    p.add_argument("--credentials", choices=("random", "fixed"), default="random",
                   help="random (default): a new password, security token and client "
                        "secret per start; fixed: the documented test-only values")
    p.add_argument("--jwt-cert", metavar="PEM",
                   help="verify JWT bearer assertions against this certificate (or "
                        "public key) instead of the key pair made at start")
    p.add_argument("--max-open-cursors", type=int, metavar="N",
                   help="assumption, off by default (Salesforce has no cap since API "
                        "v56.0): keep at most N open query cursors, releasing the oldest")
    p.add_argument("--no-run-jobs", action="store_true",
                   help="do not run queued Apex jobs in the background (by default they "
                        "run at once and an idle org's clock follows wall time)")
    p.add_argument("--no-datacloud", action="store_true",
                   help="do not register the simulated Data Cloud endpoint "
                        "(callout:DataCloud) the team's jobs read from")
    p.add_argument("--save-on-exit", metavar="PATH",
                   help="when stopped (Ctrl-C, SIGTERM), save the served org to PATH "
                        "(may be the --org-file itself)")
    p.add_argument("--json", action="store_true",
                   help="print the connection details as one JSON document (the envelope "
                        "every command uses), then serve")
    p.add_argument("--no-concurrency-limit", action="store_true",
                   help="never answer REQUEST_LIMIT_EXCEEDED for concurrent "
                        "long-running requests")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Build the org, start the server, print the connection lines, serve until stopped."""
    # The server's dependencies (werkzeug, trustme) load only when it starts.
    from ..datacloud import DataCloudSource
    from ..rest.auth import sessions
    from ..rest.server import serve

    refuse_with_org_file(args, ("--scenario", "--records", "--seed", "--edition",
                                "--licenses"),
                         "a saved org keeps its own records, edition and licences")
    jwt_cert = _read_cert(args.jwt_cert) if getattr(args, "jwt_cert", None) else None
    max_cursors = getattr(args, "max_open_cursors", None)
    if max_cursors is not None and max_cursors < 1:
        raise UsageError(f"--max-open-cursors must be at least 1, not {max_cursors}")
    # Checked before seeding (which may take a minute), not when the server stops or
    # binds: a missing folder would lose the served org at the very end, and a bad
    # address would end in the HTTP server's own exit(1).
    save_to = getattr(args, "save_on_exit", None)
    if save_to and Path(save_to).is_dir():
        raise UsageError(f"--save-on-exit {save_to}: is a folder, not a file path")
    check_writable(save_to, "--save-on-exit")
    _check_listen(args.host, args.port)
    # A saved org (e.g. from `replay --save-org`) is served from an in-memory copy, so
    # what clients do while it is served never changes the file they may reuse.
    org = Org.open(args.org_file, in_memory=True) if args.org_file else build_org(args)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (e.g. from a supervisor) stops as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    creds = sessions(org)
    if getattr(args, "credentials", "random") == "random":
        creds.randomize()
    if jwt_cert is not None:
        creds.jwt_public_key = jwt_cert
    org.soql.cursors.max_open = max_cursors
    if not getattr(args, "no_datacloud", False) and SOURCE_OBJECT in org.schema:
        # As `sforg-sim apex run` does: the team's V2 reads its source rows from
        # callout:DataCloud; without it every page fails and retries.
        DataCloudSource(org).attach(org.apex)
    save_to = getattr(args, "save_on_exit", None)
    with serve(org, host=args.host, port=args.port,
               concurrency_limit=not getattr(args, "no_concurrency_limit", False),
               run_jobs=not getattr(args, "no_run_jobs", False)) as server:
        env = {"SF_INSTANCE_URL": server.instance_url, "SF_ACCESS_TOKEN": server.access_token,
               "REQUESTS_CA_BUNDLE": server.ca_bundle_path,
               "NODE_EXTRA_CA_CERTS": server.ca_bundle_path}
        if server.jwt_key_path:
            env.update(SF_JWT_KEY_FILE=server.jwt_key_path,
                       SF_JWT_CERT_FILE=server.jwt_cert_path)
        logins = {"SF_USERNAME": creds.username, "SF_PASSWORD": creds.password,
                  "SF_SECURITY_TOKEN": creds.security_token,
                  "SF_CLIENT_ID": creds.consumer_key, "SF_CLIENT_SECRET": creds.consumer_secret}
        if getattr(args, "json", False):
            # One document, then the server runs: a script reads the first JSON value.
            print_json(envelope("serve", 0, env=env, credentials=logins,
                                org=repr(org)))
            sys.stdout.flush()
        else:
            for name, value in env.items():
                print(f"{name}={value}")
            print("# " + " ".join(f"{k}={v}" for k, v in logins.items()))
            print(f"# serving {org!r} on {server.instance_url}; Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("sforg-sim: stopped", file=sys.stderr)
    # The server and its job runner have stopped (the with block): the org is quiet.
    if save_to:
        # Not overwrite=True: a file that is not an org is never replaced.
        try:
            org.save(save_to)
        except OSError as e:
            print(f"sforg-sim: could not save the org to {save_to}: {e}", file=sys.stderr)
            return 1
        print(f"sforg-sim: saved the org to {save_to}", file=sys.stderr)
    return 0


def _port(text: str) -> int:
    """A TCP port: 0 (a free one) to 65535. Larger numbers are refused, not wrapped round
    (the socket layer would silently bind ``n % 65536``)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535: {text!r}")
    return n


def _check_listen(host: str, port: int) -> None:
    """UsageError (one line) when ``host``:``port`` cannot be listened on: a name that
    does not resolve, an address not on this machine, a port in use or reserved. The HTTP
    server would print its own message and exit 1 instead, after the seeding."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"--host {host}: cannot resolve it ({e})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the server binds: SO_REUSEADDR, so a port in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise UsageError(f"--host {host} --port {port}: cannot listen there "
                             f"({e.strerror or e})") from None


def _read_cert(path: str) -> bytes:
    """The PEM at ``path`` (a certificate or a public key), or UsageError saying why not."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"--jwt-cert {path}: {e.strerror or e}") from None
    if b"-----BEGIN CERTIFICATE-----" not in raw and b"-----BEGIN PUBLIC KEY-----" not in raw:
        raise UsageError(f"--jwt-cert {path}: not a PEM certificate or public key")
    return raw
