"""verify-org: secrets never reach the output, credentials are checked before use, and a
slow server cannot stretch a run (issue 14).

The slow servers are real: a TLS server on 127.0.0.1 (trustme certificate) that answers
quickly, or trickles its headers or its body a byte at a time. Each stops by itself after
``LIFETIME`` seconds; nothing here contacts any other address.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import trustme

from verify import redact
from verify.cli import main
from verify.connect import VerifySession
from verify.errors import ResponseDeadlineExceeded, one_line

TOKEN = "00D5j000001abcd!AQEAQFakeTokenValue.1234567890_abcdefXYZ"
TAIL = TOKEN.split("!")[1]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No secret registered by an earlier test masks a leak in this one; no SF_* or proxy
    variable from the machine changes where verify-org connects."""
    redact.clear()
    for k in ("SF_INSTANCE_URL", "SF_ACCESS_TOKEN", "SF_USERNAME", "SF_PASSWORD",
              "SF_SECURITY_TOKEN", "SF_CLIENT_ID", "SF_CLIENT_SECRET", "SF_JWT_KEY_FILE",
              "SF_DOMAIN", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
              "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    yield
    redact.clear()


def _leaks(text: str, token: str = TOKEN) -> bool:
    low = text.lower()
    return token.lower() in low or token.split("!")[-1].lower() in low


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("verify-org: error: "), err
    assert "Traceback" not in err
    return err


# --- masking ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {TOKEN}",
    f"cannot reach {TOKEN.lower()}: host not found",            # a host name, lower-cased
    f"'Bearer {TOKEN}\\n'",                                     # repr() of a header
    "https://x/?sid=" + TOKEN.replace("!", "%21"),              # percent-encoded
    f"sid={TOKEN.replace('00D5j000001abcd', '00D5j000001abcdEAA')}",  # 18-character org id
])
def test_session_ids_are_masked_without_being_registered(text: str) -> None:
    out = redact.redact(text)
    assert TAIL.lower() not in out.lower() and "****" in out


def test_registered_secrets_are_masked_in_any_case_and_form() -> None:
    secret = "s3cr3t-Client-Secret-value"
    redact.register(f"  {secret}\n")
    for text in (secret, secret.upper(), f"[{secret}\n]", requests.utils.quote(secret)):
        assert "Client-Secret" not in redact.redact(text).replace("****", "")
    assert redact.redact("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize("secret", [TOKEN, "opaque-secret-value-0123456789abcdef"])
def test_one_line_masks_before_it_cuts(secret: str) -> None:
    # one_line keeps 399 characters: the cut falls inside the secret, whose first half
    # no later redaction would recognise.
    redact.register(secret)
    cut = one_line("x" * 380 + " " + secret + " and more")
    assert len(cut) == 400 and secret[4:18] not in cut


def test_redacting_stream() -> None:
    class Sink:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, s: str) -> int:
            self.parts.append(s)
            return len(s)

    sink = Sink()
    stream = redact.redacting(sink)  # type: ignore[arg-type]
    stream.write(f"token {TOKEN}\n")
    assert not _leaks("".join(sink.parts))


# --- the three leaks of issue 14, and checking credentials up front -----------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(capsys: pytest.CaptureFixture[str], *argv: str,
         network: bool = False) -> tuple[int, str, str]:
    """main() with ``argv``; unless ``network``, no request can leave (``responses``
    refuses every one), so even a broken check cannot reach a real host."""
    args = [*argv, "--expect", "Qualification=1", "--timeout", "5"]
    if network:
        code = main(args, sleep=lambda s: None)
    else:
        with responses.RequestsMock(assert_all_requests_are_fired=False):
            code = main(args, sleep=lambda s: None)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_swapped_flags(capsys: pytest.CaptureFixture[str], json_flag: list[str]) -> None:
    code, out, err = _run(capsys, "--instance-url", TOKEN, "--access-token",
                          "https://acme.my.salesforce.com", *json_flag)
    assert code == 2 and not _leaks(out + err)
    assert "looks like the values are swapped" in _one_line(err)
    if json_flag:
        doc = json.loads(out)
        assert doc["error"]["code"] == "SWAPPED_CREDENTIALS" and doc["org"] is None


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_swapped_environment(capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch, json_flag: list[str]) -> None:
    monkeypatch.setenv("SF_INSTANCE_URL", TOKEN)
    monkeypatch.setenv("SF_ACCESS_TOKEN", "https://acme.my.salesforce.com")
    code, out, err = _run(capsys, *json_flag)
    assert code == 2 and not _leaks(out + err)
    assert "looks like the values are swapped" in _one_line(err)
    assert "SF_INSTANCE_URL" in err and "SF_ACCESS_TOKEN" in err


def test_swapped_non_session_id_token_is_masked_too(capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    # An OAuth token of another shape is not caught by the pattern: it is masked because
    # it was given as one of the credentials.
    opaque = "eyJhbGciOiJSUzI1NiJ9-opaque-access-token-value"
    code, out, err = _run(capsys, "--instance-url", opaque, "--access-token",
                          "https://acme.my.salesforce.com", "--json")
    assert code == 2 and opaque not in out + err and "swapped" in _one_line(err)


def test_trailing_newline_in_the_token_is_stripped(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    # Before: requests refused the header and the error echoed 'Bearer 00D5j...\n'.
    url = f"https://127.0.0.1:{_closed_port()}"
    code, out, err = _run(capsys, "--instance-url", f" {url}\n", "--access-token",
                          f"{TOKEN}\n", "--json", network=True)
    assert code == 2 and not _leaks(out + err)
    assert "cannot reach 127.0.0.1" in _one_line(err) and "InvalidHeader" not in err


def test_trailing_newline_in_the_environment(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_INSTANCE_URL", f"https://127.0.0.1:{_closed_port()}\n")
    monkeypatch.setenv("SF_ACCESS_TOKEN", f"{TOKEN}\r\n")
    code, out, err = _run(capsys, network=True)
    assert code == 2 and not _leaks(out + err) and "cannot reach" in _one_line(err)


@pytest.mark.parametrize("url,needle", [
    ("http://acme.my.salesforce.com", "only speaks HTTPS"),
    ("ftp://acme.my.salesforce.com", "http(s) URL with a host"),
    ("https://", "http(s) URL with a host"),
    ("https://acme my.salesforce.com", "http(s) URL with a host"),
    ("https://acme.my.salesforce.com:port", "http(s) URL with a host"),
    ("https://[::1", "http(s) URL with a host"),
])
def test_bad_instance_url(capsys: pytest.CaptureFixture[str], url: str, needle: str) -> None:
    code, out, err = _run(capsys, "--instance-url", url, "--access-token", TOKEN)
    assert code == 2 and needle in _one_line(err) and "--instance-url" in err
    assert not _leaks(out + err)


@pytest.mark.parametrize("argv,needle", [
    (["--instance-url", "https://acme.my.salesforce.com", "--access-token",
      "https://acme.my.salesforce.com"], "--access-token looks like a URL"),
    (["--instance-url", "https://acme.my.salesforce.com", "--access-token",
      "acme.my.salesforce.com"], "--access-token looks like a URL"),
    (["--instance-url", TOKEN, "--access-token", "anything-else-12345"],
     "--instance-url looks like an access token"),
    (["--instance-url", "https://acme.my.salesforce.com", "--access-token",
      TOKEN[:20] + "\n" + TOKEN[20:]], "whitespace or control characters"),
    (["--instance-url", "https://acme.my.salesforce.com", "--access-token", "  "],
     "go together"),
])
def test_credentials_are_checked_before_anything_is_sent(
        capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    with responses.RequestsMock():  # any request at all would fail the test
        code, out, err = _run(capsys, *argv, network=True)
    assert code == 2 and needle in _one_line(err)
    assert not _leaks(out + err) and not _leaks(out + err, TOKEN[20:])


@pytest.mark.parametrize("argv", [["--timeout", TOKEN], ["--access-token=x" + TOKEN,
                                                         "--bogus"]])
def test_argparse_errors_are_masked(capsys: pytest.CaptureFixture[str],
                                    argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--expect", "Q=1", *argv])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and not _leaks(out + err) and "(see --help)" in _one_line(err)


# --- a real local TLS server: fast, or trickling ------------------------------------------

LIFETIME = 5.0
"""Seconds each server lives; every test below must end well before."""
DRIP = 0.05
"""Seconds between two trickled bytes: far below every per-read timeout used here."""


def _answer(stage: str = "Qualification") -> bytes:
    body = json.dumps({"totalSize": 1, "done": True, "records": [
        {"attributes": {"type": "AggregateResult"}, "StageName": stage, "cnt": 1}]}).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Sforce-Limit-Info: api-usage=5/1000\r\n"
            + f"Content-Length: {len(body) + 4000}\r\n\r\n".encode() + body + b" " * 4000)


class LocalServer:
    """A TLS server on 127.0.0.1: ``fast`` answers at once; ``trickle-body`` sends the
    headers, then the body a byte per ``DRIP``; ``trickle-headers`` trickles from the
    status line on. It stops accepting and sending after ``LIFETIME`` seconds."""

    def __init__(self, mode: str, ca: trustme.CA, stage: str = "Qualification") -> None:
        self.mode, self.stage = mode, stage
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.ctx)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.stop_at = time.monotonic() + LIFETIME
        self.authorizations: list[str] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        workers = []
        while time.monotonic() < self.stop_at:
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            t.start()
            workers.append(t)
        self.listener.close()
        for t in workers:
            t.join(timeout=1)

    def _handle(self, raw: socket.socket) -> None:
        raw.settimeout(1)
        try:
            with self.ctx.wrap_socket(raw, server_side=True) as conn:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("authorization:"):
                        self.authorizations.append(line.split(":", 1)[1].strip())
                data = _answer(self.stage)
                if self.mode == "fast":
                    conn.sendall(data)
                    return
                start = data.index(b"\r\n\r\n") + 4 if self.mode == "trickle-body" else 0
                conn.sendall(data[:start])
                for i in range(start, len(data)):
                    if time.monotonic() >= self.stop_at:
                        return
                    conn.sendall(data[i:i + 1])
                    time.sleep(DRIP)
        except OSError:
            return  # the client hung up, as it should

    def close(self) -> None:
        self.stop_at = 0.0
        self.thread.join(timeout=LIFETIME)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture
def server_factory(ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[Any]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca[1]))
    made: list[LocalServer] = []

    def make(mode: str, **kw: Any) -> LocalServer:
        made.append(LocalServer(mode, ca[0], **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _verify(capsys: pytest.CaptureFixture[str], server: LocalServer, *extra: str,
            token: str = TOKEN) -> tuple[int, dict[str, Any], str, float]:
    t0 = time.monotonic()
    code = main(["--instance-url", server.url, "--access-token", token, "--expect",
                 "Qualification=1", "--json", *extra], sleep=lambda s: None)
    took = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert not _leaks(out + err)
    return code, json.loads(out), err, took


def test_fast_server_passes_and_the_token_is_sent_stripped(
        capsys: pytest.CaptureFixture[str], server_factory: Any) -> None:
    server = server_factory("fast")
    code, doc, err, _ = _verify(capsys, server, token=f" {TOKEN}\n")
    assert (code, err) == (0, ""), err
    assert server.authorizations == [f"Bearer {TOKEN}"]
    assert doc["api_calls"]["used_by_run"] == 1


def test_stdout_is_masked_whatever_prints_it(capsys: pytest.CaptureFixture[str],
                                            server_factory: Any) -> None:
    # A server that echoes the token as data: the table and the JSON both mask it.
    server = server_factory("fast", stage=TOKEN)
    assert main(["--instance-url", server.url, "--access-token", TOKEN, "--expect",
                 "Qualification=0"]) == 0
    out, err = capsys.readouterr()
    assert not _leaks(out + err) and "00D5****" in out


@pytest.mark.parametrize("mode", ["trickle-body", "trickle-headers"])
def test_timeout_bounds_the_whole_request(capsys: pytest.CaptureFixture[str],
                                          server_factory: Any, mode: str) -> None:
    server = server_factory(mode)
    code, doc, err, took = _verify(capsys, server, "--timeout", "1", "--retries", "0")
    assert code == 2 and took < 3, (took, err)
    assert "did not send a complete response within 1s" in _one_line(err)
    assert doc["error"]["code"] == "TIMEOUT"


def test_a_slow_response_is_retried_then_given_up(capsys: pytest.CaptureFixture[str],
                                                  server_factory: Any) -> None:
    server = server_factory("trickle-body")
    code, doc, err, took = _verify(capsys, server, "--timeout", "0.7", "--retries", "1")
    assert code == 2 and took < 3.5 and server.connections == 2, (took, err)
    assert "after 2 attempts" in _one_line(err) and doc["retries"] == 1


def test_deadline_bounds_the_run(capsys: pytest.CaptureFixture[str],
                                 server_factory: Any) -> None:
    server = server_factory("trickle-body")
    code, doc, err, took = _verify(capsys, server, "--timeout", "30", "--retries", "5",
                                   "--deadline", "1.2")
    assert code == 2 and took < 3, (took, err)
    assert "--deadline 1.2s exceeded" in _one_line(err)
    assert doc["error"]["code"] == "DEADLINE"


@responses.activate
def test_deadline_stops_retry_waits(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://deadline.example.com"
    responses.add(responses.GET, f"{url}/services/data/v59.0/query/", status=503,
                  body="Service Unavailable")
    slept: list[float] = []
    code = main(["--instance-url", url, "--access-token", TOKEN, "--expect", "Q=1",
                 "--deadline", "0.4"], sleep=slept.append)
    _, err = capsys.readouterr()
    assert code == 2 and slept == [] and len(responses.calls) == 1
    assert "--deadline 0.4s exceeded: stopped before retrying" in _one_line(err)


@pytest.mark.parametrize("flag", ["--deadline", "--timeout"])
@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_time_limits_must_be_positive(capsys: pytest.CaptureFixture[str], flag: str,
                                      value: str) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--sim", "--expect", "Q=1", f"{flag}={value}"])
    assert e.value.code == 2 and flag in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("mode", ["fast", "trickle-body", "trickle-headers"])
def test_streamed_bodies_are_bounded_too(server_factory: Any, ca: tuple[trustme.CA, Path],
                                         mode: str) -> None:
    # Bulk API downloads stream their body (stream=True): the limit runs until it is read.
    server = server_factory(mode)
    with VerifySession(timeout=1) as session:
        t0 = time.monotonic()
        try:
            with session.get(f"{server.url}/services/data/v59.0/jobs/query/x/results",
                             stream=True) as r:
                body = b"".join(r.iter_content(1024))
        except ResponseDeadlineExceeded as e:
            assert mode != "fast" and e.seconds == 1
        else:
            assert mode == "fast" and json.loads(body)["totalSize"] == 1
        assert time.monotonic() - t0 < 3


def test_debug_traceback_is_masked(capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"unexpected header 'Bearer {TOKEN}'")

    monkeypatch.setattr("verify.cli.connect", boom)
    code = main(["--instance-url", "https://acme.my.salesforce.com", "--access-token",
                 TOKEN, "--expect", "Q=1", "--debug"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" in err and "RuntimeError" in err
    assert not _leaks(out + err)
    assert err.splitlines()[-1].startswith("verify-org: error: unexpected RuntimeError")


@pytest.mark.parametrize("flag", ["--timeout", "--deadline"])
@pytest.mark.parametrize("value", ["nan", "inf", "NaN"])
def test_time_limits_must_be_finite(flag: str, value: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # nan used to mean "no deadline", inf an OverflowError deep in the timer.
    from verify.cli import main as verify_main

    with pytest.raises(SystemExit) as e:
        verify_main(["limits", flag, value, "--instance-url", "https://x.my.salesforce.com",
                     "--access-token", "00D000000000001!abc"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "finite" in err and err.count("\n") == 1
