"""``civicloop serve`` with one more route, ``POST /bench/bare``, for bench_open311's same-run baseline.

The bare route does the least an intake endpoint can do: read the form and insert it as one row into a
table of the same SQLite file, in its own transaction (one fsync), then answer in Open311's shape. It
runs in the same server process as the real ``POST /open311/v2/requests.json`` (same uvicorn, same
middleware, same database), so the ratio between the two is what civicloop's intake costs on top of
"accept a POST and store it". Not part of the product: only the benchmark starts it.

    python -m benchmarks.bare_server --database sqlite:///x.db --port 8311 --photos /tmp/p
"""

from __future__ import annotations

import argparse
import itertools
import json

import uvicorn
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from civicloop.cli.common import open_city
from civicloop.cli.serve import uvicorn_options
from civicloop.http import ApiSettings, create_app
from civicloop.photos.store import LocalPhotoStore

BARE_PATH = "/bench/bare"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--photos", required=True)
    args = ap.parse_args()
    city = open_city(args.database, None)
    app = create_app(city, photos=LocalPhotoStore(args.photos), settings=ApiSettings())
    with city.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, body TEXT)")
    numbers = itertools.count(1)

    def insert(body: str) -> None:
        with city.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO bench_bare (body) VALUES (?)", (body,))

    @app.post(BARE_PATH)
    async def bare(request: Request) -> list[dict[str, str]]:
        body = json.dumps(dict(await request.form()), ensure_ascii=False)
        await run_in_threadpool(insert, body)  # off the event loop, like the real route's writes
        return [{"service_request_id": f"bare-{next(numbers)}"}]

    uvicorn.run(app, **uvicorn_options("127.0.0.1", args.port, log_level="warning", access_log=False))


if __name__ == "__main__":
    main()
