"""``python -m processing.runpod_local --port 8123 [--api-key KEY] [--endpoint-id local]``

Then point the app at it: RUNPOD_ENDPOINT_BASE_URL=http://127.0.0.1:8123/v2,
RUNPOD_ENDPOINT_ID=local, RUNPOD_API_KEY=KEY, ENGINE=runpod.
"""

from __future__ import annotations

import argparse
import logging
import os


def main() -> None:
    parser = argparse.ArgumentParser(description="Local RunPod-compatible serverless endpoint.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--api-key", default=os.environ.get("RUNPOD_API_KEY") or "local-key")
    parser.add_argument("--endpoint-id", default=os.environ.get("RUNPOD_ENDPOINT_ID") or "local")
    parser.add_argument("--workers", type=int, default=1, help="jobs run at the same time")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The handler picks its backend at import; here there is no GPU, so the local one.
    os.environ.setdefault("REKINDLE_MODEL_BACKEND", "local")
    from processing.runpod_local.server import LocalRunPod

    server = LocalRunPod(
        api_key=args.api_key,
        endpoint_id=args.endpoint_id,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )
    logging.getLogger(__name__).info(
        "RunPod-compatible endpoint %r at %s (workers: %d)", args.endpoint_id, server.base_url, args.workers
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
