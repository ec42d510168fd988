from __future__ import annotations

import argparse

from .runner import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m cancelq.sandbox", description="Run the platform sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
