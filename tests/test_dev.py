"""``dev.py tests``: the matrix sessions run a few at a time, each slot on its own data directory."""

import json
import os
import sys
import textwrap

import pytest

import dev

# Stands in for nox: lists four sessions, and "runs" one by recording what it was given.
FAKE_NOX = textwrap.dedent(
    """
    import json, os, sys, time
    args = sys.argv[1:]
    if "--list" in args:
        print(json.dumps([
            {"session": "tests(a)", "name": "tests"},
            {"session": "tests(b)", "name": "tests"},
            {"session": "tests(c)", "name": "tests"},
            {"session": "lint", "name": "lint"},
        ]))
        sys.exit(0)
    session = args[args.index("--sessions") + 1]
    posargs = args[args.index("--") + 1:] if "--" in args else []
    record = {"session": session, "pgdata": os.environ["PGHISTORY_PGDATA"], "posargs": posargs}
    record["start"] = time.monotonic()
    time.sleep(1.5)
    record["end"] = time.monotonic()
    with open(os.environ["FAKE_NOX_RECORD"], "a") as file:
        file.write(json.dumps(record) + "\\n")
    print(f"output of {session}")
    sys.exit(3 if session == os.environ.get("FAKE_NOX_FAIL") else 0)
    """
)


@pytest.fixture
def fake_nox(tmp_path, monkeypatch):
    script = tmp_path / "nox.py"
    script.write_text(FAKE_NOX)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("FAKE_NOX_RECORD", str(record))
    monkeypatch.setenv("PGHISTORY_PGDATA", str(tmp_path / "pgdata"))
    monkeypatch.setattr(dev, "ROOT", tmp_path)

    def run(jobs, rest=(), fail=None):
        if fail:
            monkeypatch.setenv("FAKE_NOX_FAIL", fail)
        env = dict(os.environ)
        status = dev._run_tests_in_parallel([sys.executable, str(script)], list(rest), env, jobs)
        lines = record.read_text().splitlines() if record.exists() else []
        return status, {r["session"]: r for r in map(json.loads, lines)}

    return run


def test_every_test_session_runs_two_at_a_time_each_slot_on_its_own_data_directory(
    fake_nox, tmp_path, capsys
):
    status, runs = fake_nox(2, ["-x", "-k", "context"])
    assert status == 0
    assert sorted(runs) == ["tests(a)", "tests(b)", "tests(c)"]  # not lint
    assert {r["pgdata"] for r in runs.values()} == {
        str(tmp_path / "pgdata"),
        str(tmp_path / "pgdata-2"),
    }
    assert runs["tests(a)"]["pgdata"] != runs["tests(b)"]["pgdata"]
    assert all(r["posargs"] == ["-x", "-k", "context"] for r in runs.values())
    # a and b overlap; c starts only once one of them has ended
    assert runs["tests(b)"]["start"] < runs["tests(a)"]["end"]
    assert runs["tests(c)"]["start"] >= min(runs["tests(a)"]["end"], runs["tests(b)"]["end"])
    out = capsys.readouterr().out
    for session in runs:
        assert f"output of {session}" in out
    assert (tmp_path / ".nox" / "logs" / "tests-a.log").read_text() == "output of tests(a)\n"


def test_one_failed_session_fails_the_run_and_the_others_still_run(fake_nox, capsys):
    status, runs = fake_nox(2, fail="tests(b)")
    assert status == 1
    assert sorted(runs) == ["tests(a)", "tests(b)", "tests(c)"]
    assert "FAILED  tests(b)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, 2), ({"PGHISTORY_TEST_JOBS": "3"}, 3), ({"DATABASE_URL": "postgres://x/y"}, 1)],
)
def test_how_many_sessions_run_at_once(env, expected):
    assert dev._test_jobs(env) == expected


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_job_count_is_an_error(value):
    with pytest.raises(SystemExit, match="PGHISTORY_TEST_JOBS must be a positive whole number"):
        dev._test_jobs({"PGHISTORY_TEST_JOBS": value})
