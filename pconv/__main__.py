"""`python -m pconv {train,evaluate,masks,download,pretrained,segment}`: see `pconv.cli.parser`."""

from pconv.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
