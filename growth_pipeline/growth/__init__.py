"""Week-on-week growth. Pure logic, no Dagster: math.py (rates, bands, projections), rollup.py (weekly
rollup), accounting.py (team growth accounting), trailing.py (the daily trailing view), calculator.py
(the growth calculator). Dagster: assets.py (weekly assets), calculator_job.py; the CLI: calculator_cli.py."""
