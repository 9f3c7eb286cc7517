"""Bulk open cases for the performance test: reports through ``CaseService.execute`` in big batches."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from civicloop.cases.core import Command
from civicloop.cases.service import BatchItem
from civicloop.city.service import City
from civicloop.geo.service import geography_for
from civicloop.kernel.vocabulary import Action
from tests.web.helpers import DISPATCHER, INSPECTOR, OPERATOR, SHIFT_LEADER

TEXTS = ("路口垃圾成堆", "井盖破损", "占道经营", "违规张贴小广告", "路灯不亮", "道路破损", "共享单车乱停放")


def fill(city: City, total: int, *, batch: int = 5000, seed: int = 1) -> int:
    """*total* open cases spread over the stored grids and the last three days; 60 % dispatched.

    Each batch is one transaction: reports with reserved numbers, then accept → file → dispatch for most.
    """
    rng = random.Random(seed)
    geo = geography_for(city)
    assert geo is not None
    grids = geo.grids
    points = []
    for g in grids:
        minx, miny, maxx, maxy = g.geometry.bounds
        points.append((g, minx, miny, maxx, maxy))
    cats = [c for c in city.profile.categories if c.sim is not None]
    depts = [d.id for d in city.profile.departments]
    now = datetime.now(UTC) - timedelta(minutes=10)
    written = 0
    while written < total:
        n = min(batch, total - written)
        at0 = now - timedelta(days=3)
        ids = city.cases.reserve_case_ids(now, n)
        items: list[BatchItem] = []
        follow: list[BatchItem] = []
        for case_id in ids:
            g, minx, miny, maxx, maxy = points[rng.randrange(len(points))]
            at = at0 + timedelta(seconds=rng.uniform(0, 3 * 86400 - 3 * 3600))  # follow-ups stay in the past
            cat = cats[rng.randrange(len(cats))]
            fields = {
                "channel": "inspector",
                "category_code": cat.code,
                "description": TEXTS[rng.randrange(len(TEXTS))],
                "lon": round(rng.uniform(minx, maxx), 6),
                "lat": round(rng.uniform(miny, maxy), 6),
                "grid_code": g.code,
                "community_code": g.community_code,
                "street_code": g.street_code,
                "district_code": g.district_code,
            }
            items.append(BatchItem(Command(Action.REPORT, case_id, fields), INSPECTOR, at))
            if rng.random() < 0.6:
                step = timedelta(minutes=rng.uniform(1, 40))
                follow.append(BatchItem(Command(Action.ACCEPT, case_id, {}), OPERATOR, at + step))
                follow.append(BatchItem(Command(Action.FILE, case_id, {}), SHIFT_LEADER, at + 2 * step))
                dept = depts[rng.randrange(len(depts))]
                follow.append(
                    BatchItem(
                        Command(Action.DISPATCH, case_id, {"department_id": dept}), DISPATCHER, at + 3 * step
                    )
                )
        result = city.cases.execute(items + follow)
        assert not result.errors, result.errors[:3]
        city.cases.cache.clear()  # the bulk load should not pin 100,000 states in memory
        written += n
    return written
