"""Two imports of overlapping rolls at the same time, on a database of their own (the
live app, committed for real): no duplicate certificate or person, no lost row."""

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from registry.credentials.models import Certificate, CertificateChange
from registry.db import get_session
from registry.imports import checks
from registry.people.models import Person
from tests.imports.test_services import row, write_csv
from tests.imports.test_views import upload
from tests.test_concurrency import _live_app


def test_overlapping_imports_in_parallel(make_app, scratch_database_url, tmp_path, monkeypatch):
    app, headers = _live_app(make_app, scratch_database_url)
    first = [row(i) for i in range(0, 60)]
    second = [row(i) for i in range(30, 90)]
    second[10][7] = "2031-01-01"  # row(40): the same certificate, a new expiry
    paths = [
        write_csv(tmp_path / "first.csv", first),
        write_csv(tmp_path / "second.csv", second, "utf-8-sig"),
    ]

    # Both imports have read and checked their rolls, against a registry where neither
    # wrote anything yet, before either merges: the worst interleaving, every time.
    staged = threading.Barrier(2)
    check = checks.check

    def check_then_wait(job, columns):
        check(job, columns)
        staged.wait(timeout=30)

    monkeypatch.setattr(checks, "check", check_then_wait)

    def post(path):
        return upload(app.test_client(), headers, path)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(post, paths))
    assert [r.status_code for r in responses] == [201, 201], [r.json for r in responses]
    accepted = sum(r.json["accepted"] for r in responses)
    unchanged = sum(r.json["unchanged"] for r in responses)
    assert (accepted, unchanged) == (91, 29)  # 90 new, 1 update; 29 of the overlap as is

    with app.app_context():
        session = get_session()
        numbers = session.scalars(sa.select(Certificate.number)).all()
        assert sorted(numbers) == [f"C{i:05d}" for i in range(90)]
        assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 90
        updated = session.scalars(
            sa.select(Certificate).where(Certificate.number == "C00040")
        ).one()
        # The roll merged last (its batch is made in the merge) has the last word.
        second_merged_last = responses[1].json["batch_id"] > responses[0].json["batch_id"]
        assert str(updated.expires_on) == ("2031-01-01" if second_merged_last else "None")
        actions = session.scalars(sa.select(CertificateChange.action)).all()
        assert (actions.count("issued"), actions.count("updated")) == (90, 1)
