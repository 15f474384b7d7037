"""Week-on-week growth: the pure math (math.py) and the weekly rollup asset built on it."""
