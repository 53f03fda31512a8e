"""Org files survive kills, full disks, concurrent writers and damage (issue 14).

The kill tests run a child process and SIGKILL it at random moments (a fixed seed, a few
iterations, a few seconds in all); after each kill the org file must open and hold either
the state before the interrupted operation or the state after it.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.cli import main
from sforg_sim.store import StorageError
from sqlhelp import raw

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

_ROOT = Path(__file__).resolve().parent.parent


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(_ROOT / "src"), str(_ROOT / "tests")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, text=True)


def _kill_after_go(proc: subprocess.Popen[str], delay: float) -> bool:
    """Wait for the child's ``go`` line, sleep ``delay``, SIGKILL it; True if it was still
    running (the kill interrupted it)."""
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "go"
    time.sleep(delay)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return alive


def _names(org: Org, sobject: str = "Account") -> list[str]:
    return [r["Name"] for r in org.query_records(f"SELECT Name FROM {sobject} ORDER BY Name")]


def _opp(name: str) -> dict[str, str]:
    return {"Name": name, "StageName": "Prospecting", "CloseDate": "2026-01-01"}


# --- 1. save is atomic ---------------------------------------------------------------------

_SAVE_LOOP = """
    import sys
    from sforg_sim import Org
    target = sys.argv[1]
    org = Org.open(target, in_memory=True)
    k = len(org.query_records("SELECT Id FROM Account WHERE Name LIKE 'save%'"))
    print("go", flush=True)
    while True:
        k += 1
        org.insert("Account", [{"Name": f"save{k:05d}"}])
        org.save(target)
"""


def test_a_kill_during_save_leaves_the_old_save_or_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "org.sforg"
    org = Org()
    org.load_scenario("massive-upload", records=5000)  # a save takes ~10 ms: kills land in it
    org.save(target)
    rng = random.Random(14)
    saved = 0
    for _ in range(5):
        assert _kill_after_go(_child(_SAVE_LOOP, str(target)), rng.uniform(0.02, 0.3))
        again = Org.open(target)  # the old save or the new one, never a broken file
        names = [n for n in _names(again) if n.startswith("save")]
        assert names == [f"save{k:05d}" for k in range(1, len(names) + 1)]
        assert len(names) >= saved  # no earlier save lost
        saved = len(names)
        assert again.soql.count("SELECT COUNT() FROM Opportunity") == 5000
        again.close()
    assert saved > 0


def test_save_will_not_replace_a_file_that_is_not_an_org(tmp_path: Path) -> None:
    org = Org()
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    with pytest.raises(OSError, match=r"will not replace .*notes\.txt: it is not a sforg-sim"):
        org.save(notes)
    assert notes.read_text() == "precious"
    org.save(notes, overwrite=True)
    assert Org.open(notes).org_id == org.org_id
    with pytest.raises(OSError, match="it is a directory"):
        org.save(tmp_path)
    # A new file gets the usual permissions, not a temporary file's private ones.
    org.save(tmp_path / "new.sforg")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.sforg").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_save_will_not_replace_an_org_file_another_org_has_open(tmp_path: Path) -> None:
    path = tmp_path / "live.sforg"
    live = Org(path=path)
    live.insert("Account", [{"Name": "kept"}])
    with pytest.raises(OSError, match="in use by another process"):
        Org().save(path)
    live.close()
    Org().save(path)  # closed: replaceable
    assert _names(Org.open(path)) == []


# --- 2. seeding into a file is crash-safe --------------------------------------------------

_SEED_INTO_FILE = """
    import sys
    from sforg_sim import Org
    print("go", flush=True)
    org = Org(path=sys.argv[1])
    org.load_scenario("massive-upload", records=20000)
    print("done", flush=True)
    import time; time.sleep(60)
"""


def test_a_kill_while_seeding_into_org_path_leaves_an_openable_file(tmp_path: Path) -> None:
    rng = random.Random(2)
    for i in range(5):
        target = tmp_path / f"seed{i}.sforg"
        assert _kill_after_go(_child(_SEED_INTO_FILE, str(target)), rng.uniform(0.0, 0.8))
        if not target.exists():
            continue  # killed before the new org was complete: no file, not a broken one
        again = Org.open(target)
        assert again.soql.count("SELECT COUNT() FROM Opportunity") in (0, 20000)
        [r] = again.insert("Opportunity", [_opp("after")])  # ids continue after a kill
        assert r["success"], r
        again.close()


_SEED_CLI = """
    import sys
    from sforg_sim.cli import main
    print("go", flush=True)
    main(["seed", "--records", "30000", "--org-file", sys.argv[1]])
"""


def test_a_kill_during_sforg_sim_seed_keeps_the_earlier_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "seeded.sforg"
    assert main(["seed", "--records", "1000", "--org-file", str(target)]) == 0
    capsys.readouterr()
    rng = random.Random(3)
    for _ in range(3):
        _kill_after_go(_child(_SEED_CLI, str(target)), rng.uniform(0.3, 1.5))
        again = Org.open(target)
        assert again.soql.count("SELECT COUNT() FROM Opportunity") in (1000, 30000)
        again.close()
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    assert main(["seed", "--records", "10", "--org-file", str(notes)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a sforg-sim org file" in err[0]
    assert notes.read_text() == "precious"


# --- 3. storage errors ---------------------------------------------------------------------

def test_a_full_disk_is_one_error_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "full.sforg"
    org = Org(path=path)
    conn = raw(org)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 8}")  # "the disk": 8 more pages
    acknowledged: list[str] = []
    failures = 0
    for i in range(400):
        name = f"acc{i:04d}-" + "x" * 200
        try:
            if i % 3 == 0:  # some inside a caller's transaction (composite, Apex)
                with org.transaction():
                    [r] = org.insert("Account", [{"Name": name}])
                    org.insert("Account", [{"Name": name + "-second"}])
                    new = [name, name + "-second"]
            else:
                [r] = org.insert("Account", [{"Name": name}])
                new = [name]
        except StorageError as e:
            failures += 1
            assert "database or disk is full" in str(e) and str(path) in str(e)
            assert "\n" not in str(e)
            assert not org.store.in_transaction  # rolled back, nothing left open
            continue
        assert r["success"], r
        acknowledged += new
    assert failures > 100 and acknowledged
    conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    [r] = org.insert("Account", [{"Name": "after"}])
    assert r["success"]
    acknowledged.append("after")
    org.close()
    again = Org.open(path)
    assert _names(again) == sorted(acknowledged)
    again.close()


def test_a_full_disk_during_the_engine_batch_rolls_the_batch_back(tmp_path: Path) -> None:
    path = tmp_path / "batch.sforg"
    org = Org(path=path)
    org.insert("Account", [{"Name": "before"}])
    store = org.store
    conn = raw(org)
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    batches = store.batches(100)
    with pytest.raises(StorageError):
        for i in range(200):
            with batches.unit(), store.savepoint():
                assert org.insert("Account", [{"Name": f"batched{i}-" + "y" * 200}])[0]["success"]
    assert not store.in_transaction and not store.batch_open
    store.end_batch()  # nothing to commit, and no error
    conn.execute("PRAGMA max_page_count = 1073741823")
    org.close()
    assert _names(Org.open(path)) == ["before"]


def test_other_sqlite_errors_are_not_storage_errors() -> None:
    org = Org()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        org.store.read("SELECT * FROM nope")
    with org.transaction():
        org.insert("Account", [{"Name": "ok"}])
    assert _names(org) == ["ok"]


# --- 4. id counters with several writers and after a crash --------------------------------

def test_two_orgs_on_one_file_get_distinct_ids(tmp_path: Path) -> None:
    path = tmp_path / "shared.sforg"
    a = Org(path=path)
    b = Org.open(path)
    got = []
    for i in range(5):
        for org, who in ((a, "a"), (b, "b")):
            [r] = org.insert("Account", [{"Name": f"{who}{i}"}])
            assert r["success"], r
            got.append(r["id"])
    assert len(set(got)) == 10 and got == sorted(got)
    a.close()
    b.close()


_INSERT_THEN_DIE = """
    import os, signal, sys
    from sforg_sim import Org
    org = Org.open(sys.argv[1])
    for i in range(int(sys.argv[2])):
        assert org.insert("Account", [{"Name": f"{sys.argv[3]}{i:03d}"}])[0]["success"]
    if sys.argv[4] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    org.close()
"""


def test_the_next_insert_after_a_killed_writer_gets_a_new_id(tmp_path: Path) -> None:
    path = tmp_path / "crashed.sforg"
    Org(path=path).close()
    proc = _child(_INSERT_THEN_DIE, str(path), "5", "dead", "kill")
    assert proc.wait(timeout=60) == -signal.SIGKILL
    again = Org.open(path)
    [r] = again.insert("Account", [{"Name": "after"}])
    assert r["success"], r
    assert _names(again) == ["after", *(f"dead{i:03d}" for i in range(5))]


def test_concurrent_writer_processes_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "busy.sforg"
    Org(path=path).close()
    procs = [_child(_INSERT_THEN_DIE, str(path), "40", who, "close") for who in "pq"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    again = Org.open(path)
    ids = [r["Id"] for r in again.query_records("SELECT Id FROM Account")]
    assert len(ids) == len(set(ids)) == 80


def test_a_file_from_before_the_ids_table_continues_after_its_largest_id(
        tmp_path: Path) -> None:
    # Files written before _ids kept counters in _meta only at save or close: a process
    # killed after inserting left them behind the records.
    path = tmp_path / "old.sforg"
    org = Org(path=path)
    org.insert("Account", [{"Name": f"n{i}"} for i in range(3)])
    conn = raw(org)
    conn.execute("DROP TABLE _ids")
    conn.execute("""INSERT OR REPLACE INTO _meta VALUES ('id_counters', '{"001": 1}')""")
    conn.close()
    again = Org.open(path)
    [r] = again.insert("Account", [{"Name": "next"}])
    assert r["success"], r


# --- 5. a damaged file is refused on open --------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes_in_the_middle_of_an_org_file_are_refused(tmp_path: Path,
                                                               seed: int) -> None:
    path = tmp_path / "damaged.sforg"
    org = Org()
    org.load_scenario("small", records=300)
    org.save(path)
    size = path.stat().st_size
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek(size // 4 + rng.randrange(size // 2))
        f.write(rng.randbytes(4096))
    with pytest.raises(OSError, match=r"damaged\.sforg is damaged: ") as e:
        Org.open(path)
    assert "\n" not in str(e.value)
    with pytest.raises(OSError, match="is damaged"):
        Org(path=path)


def test_truncated_and_incomplete_files_are_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.sforg"
    Org().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(OSError, match="is damaged: its length"):
        Org.open(path)
    path.write_bytes(data)
    con = sqlite3.connect(path)
    con.execute("DELETE FROM _meta WHERE key = 'org'")
    con.commit()
    con.close()
    with pytest.raises(OSError, match="is damaged: its org metadata"):
        Org.open(path)
    # The bounded check of large files (forced here) still checks tables and columns.
    from sforg_sim import store

    monkeypatch.setattr(store, "FULL_CHECK_BYTES", 0)
    Org().save(path, overwrite=True)
    Org.open(path).close()
    con = sqlite3.connect(path)
    con.execute('ALTER TABLE "Account" DROP COLUMN "Industry"')
    con.commit()
    con.close()
    with pytest.raises(OSError, match="is damaged: table Account lacks column Industry"):
        Org.open(path)
    empty = tmp_path / "empty.sforg"
    empty.touch()
    with pytest.raises(OSError, match="not a saved sforg-sim org"):
        Org.open(empty)


# --- a kill during DML on a file-backed org keeps every acknowledged write -----------------

_DML_LOOP = """
    import sys
    from sforg_sim import Org
    org = Org.open(sys.argv[1])
    print("go", flush=True)
    k = 0
    while True:
        k += 1
        batch = [{"Name": f"dml{k:06d}-{j}"} for j in range(20)]
        [r] = org.insert("Account", batch[:1])
        org.insert("Account", batch[1:])
        org.update("Account", [{"Id": r["id"], "Name": f"dml{k:06d}-0u"}])
        print(f"ack {k}", flush=True)  # both inserts and the update returned
"""


@pytest.mark.parametrize("delay", [0.2, 0.45, 0.8])
def test_a_kill_during_dml_keeps_every_acknowledged_write(tmp_path: Path,
                                                           delay: float) -> None:
    path = tmp_path / "org.sforg"
    Org(path=path).close()
    proc = _child(_DML_LOOP, str(path))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "go"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    acked = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")]
    assert acked, "the child acknowledged nothing before the kill: raise the delay"
    org = Org.open(path)  # opens: not damaged
    names = set(_names(org))
    for k in acked:  # every acknowledged round is there whole, the update included
        assert f"dml{k:06d}-0u" in names
        assert all(f"dml{k:06d}-{j}" in names for j in range(1, 20))
    org.close()
