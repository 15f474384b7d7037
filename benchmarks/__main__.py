"""`python -m benchmarks NAME --args JSON`: one measurement (see scenarios.py). As a package's __main__,
it is not re-imported by the fetch pool's spawned workers, which then load only what a source needs."""

from benchmarks.scenarios import main

main()
