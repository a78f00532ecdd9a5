"""Where one webhook's time goes, in one process with no contention (a companion of
bench/webhook_ingest.py, not part of `make bench`).

    .venv/bin/python bench/profile_ingest.py [--requests 3000] [--profile] [--top 25]

Calls the WSGI apps directly (no gunicorn, no sockets), so the numbers are the handler's own
cost: the bare app and the ingest app per request, then, with --profile, a cProfile of the
ingest app sorted by cumulative time, written to bench/results/profile_ingest.txt."""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def environs(shop_ref: str, secret: str, first_id: int, count: int) -> list[dict[str, Any]]:
    from shoper_retention.platforms.shoper.signature import webhook_sha1
    from tests.support import WEBHOOK_ID, order_payload

    now = datetime.now(UTC)
    out = []
    for seq in range(count):
        body = json.dumps(order_payload(str(first_id + seq), at=now)).encode()
        out.append(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": f"/shoper/webhooks/{shop_ref}",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_WEBHOOK_ID": WEBHOOK_ID,
                "HTTP_X_WEBHOOK_NAME": "order.create",
                "HTTP_X_WEBHOOK_SHA1": webhook_sha1(WEBHOOK_ID, secret, body),
                "HTTP_X_SHOP_LICENSE": "licence",
                "_body": body,
            }
        )
    return out


def call_all(app: Callable[..., Iterable[bytes]], envs: list[dict[str, Any]]) -> float:
    """CPU seconds per request (CPU, not wall: steadier when the machine is shared); fails
    loudly on anything but 2xx."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    t0 = time.process_time()
    for env in envs:
        env = dict(env)
        env["wsgi.input"] = io.BytesIO(env.pop("_body"))
        b"".join(app(env, start_response))
        if not statuses[-1].startswith("2"):
            raise RuntimeError(f"answered {statuses[-1]}")
    return (time.process_time() - t0) / len(envs)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--app-root",
        type=Path,
        default=REPO,
        help="import shoper_retention from this checkout (a candidate fix)",
    )
    args = p.parse_args()
    sys.path.insert(0, str(args.app_root.resolve()))
    from bench.bare_app import create_app as create_bare_app
    from bench.webhook_ingest import RESULTS_DIR, make_instance
    from shoper_retention.app import create_app

    print(
        f"shoper_retention from {Path(sys.modules['shoper_retention.app'].__file__ or '').parent}"
    )
    with tempfile.TemporaryDirectory(prefix="sr-profile-") as tmp:
        settings, shop_ref, secret, _ = make_instance(Path(tmp))
        app, bare = create_app(settings), create_bare_app()
        n = args.requests
        call_all(app, environs(shop_ref, secret, 1, 300))  # warm caches and the pool
        call_all(bare, environs(shop_ref, secret, 1, 300))
        # Best of 5 batches: the machine may be shared, and noise only ever adds time.
        batch = max(1, n // 5)
        bare_s = min(
            call_all(bare, environs(shop_ref, secret, 10_000 + i * batch, batch)) for i in range(5)
        )
        ingest_s = min(
            call_all(app, environs(shop_ref, secret, 10_000 + i * batch, batch)) for i in range(5)
        )
        print(f"bare   {bare_s * 1e6:6.0f} us CPU/request (best of 5 x {batch}, one thread)")
        print(f"ingest {ingest_s * 1e6:6.0f} us CPU/request (best of 5 x {batch}, one thread)")
        if args.profile:
            envs = environs(shop_ref, secret, 1_000_000, n)
            prof = cProfile.Profile()
            prof.enable()
            call_all(app, envs)
            prof.disable()
            text = io.StringIO()
            stats = pstats.Stats(prof, stream=text).sort_stats("cumulative")
            stats.print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / "profile_ingest.txt").write_text(text.getvalue())
            print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
