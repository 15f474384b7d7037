"""The DuckDB warehouse: table definitions and the one way partitions are written."""
