"""`python -m bench data …` generates a dataset; `python -m bench run …` runs the benchmark;
`python -m bench profile …` shows where a request's time goes."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.data import Spec
from bench.db import DATABASE_PREFIX, bench_server, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="generate a dataset into its own database")
    data.add_argument("--tenants", type=int, default=1_000)
    data.add_argument(
        "--tasks",
        type=int,
        default=1_000_000,
        help="all tenants' tasks: at least 10,000 (the named tenant bench-big's) + tenants - 1",
    )
    data.add_argument("--seed", type=int, default=8)
    data.add_argument("--database", default=DATABASE_PREFIX)
    data.add_argument("--force", action="store_true", help="regenerate even if it exists")
    run = sub.add_parser("run", help="the whole benchmark (make bench)")
    run.add_argument("--scale", choices=("small", "full"), default="full")
    run.add_argument("--output", default=None, help="write the Markdown table to this file")
    sub.add_parser("profile", help="cProfile of one scenario, in-process (see bench/profile.py)")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["profile"]:
        from bench.profile import main as profile

        return profile(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "data":
        try:
            spec = Spec(tenants=args.tenants, tasks=args.tasks, seed=args.seed)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        with bench_server() as server:
            asyncio.run(prepare(server, args.database, spec, force=args.force))
        return 0
    from bench.run import run_benchmark

    return run_benchmark(scale=args.scale, output=args.output)


if __name__ == "__main__":
    sys.exit(main())
