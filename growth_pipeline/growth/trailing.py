"""The daily trailing growth series: value(D) / value(D-7) - 1 for every day, metric and segment.

It is a DuckDB view over platform_metrics (created with the tables), not an asset: it is always current
after any daily run or backfill, costs nothing to store, and adds no daily partitions to Dagster (each
one costs instance events on every history build). Charts and early warnings read it mid-week, before
the ISO week's rollup exists. Like WoW growth it is NULL, with a reason, when the base is 0 or missing.
"""

DAILY_TRAILING_GROWTH_SQL = """
SELECT d.snapshot_date, d.metric, d.segment, d.value,
       b.value AS value_7_days_before,
       CASE WHEN b.value > 0 THEN d.value / b.value - 1 END AS trailing_growth,
       CASE WHEN b.value IS NULL THEN 'no value on ' || strftime(d.snapshot_date - 7, '%Y-%m-%d')
            WHEN b.value = 0 THEN 'value on ' || strftime(d.snapshot_date - 7, '%Y-%m-%d') || ' is 0'
            WHEN b.value < 0 THEN 'value on ' || strftime(d.snapshot_date - 7, '%Y-%m-%d') || ' is negative'
       END AS growth_note
FROM platform_metrics d
LEFT JOIN platform_metrics b
       ON b.metric = d.metric AND b.segment = d.segment AND b.snapshot_date = d.snapshot_date - 7
"""
