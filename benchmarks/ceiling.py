"""The ceiling of this stack: a bare FastAPI endpoint that reads the body and returns a constant.

`onshi bench` starts it as its own uvicorn process(es), with the same worker count and uvicorn
options as `onshi serve`, and drives it with the same load generator (`benchmarks.load`, kind
``ceiling``): what the framework, the server and the load generator cost per request on this
machine, with none of our code. Checks are reported as a share of it.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request, Response

app = FastAPI()
ANSWER = b'{"status":"ok"}'


@app.post("/ceiling")
async def ceiling(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


def main() -> None:
    """``python -m benchmarks.ceiling PORT WORKERS``: uvicorn as `onshi serve` runs it."""
    import uvicorn

    port, workers = int(sys.argv[1]), int(sys.argv[2])
    uvicorn.run("benchmarks.ceiling:app", host="127.0.0.1", port=port, workers=workers,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
