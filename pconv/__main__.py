"""`python -m pconv {train,evaluate,masks,download}`: see `pconv.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
