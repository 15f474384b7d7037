"""Feature adoption in DuckDB SQL, built from the catalog. No Dagster: the assets, the platform metrics
and the CLI share these definitions, so "adopting" means one thing everywhere.

Definitions (per feature, team and day on which the feature is collected):
- eligible: the team's tier is offered the feature, it is not suspended, and it is active (catalog);
- adopting: eligible and the feature's signal holds; NULL (unknown) when the signal's counter is unknown;
- new adopter on day d: adopting on d and not adopting on d-1; lost adopter: adopting on d-1 and not on d
  (a team that left the platform is lost). Undefined (NULL) when d-1 is not tracked or has no snapshot,
  or when a team's status that decides it is unknown. New adopters count in today's tier, lost ones in
  yesterday's, so for 'all': adopting(d) = adopting(d-1) + new(d) - lost(d);
- first use: the team's first adopting day; ever adopted on d: teams whose first use is on or before d,
  in the tier they had then (teams that left still count);
- days to first use: first use - max(launch, team creation day). A team already adopting on the feature's
  first tracked day, whose clock started earlier, has an unknown first use (it may predate collection) and
  is left out of the median and 75th percentile.
Days before a feature's collected_from have no rows at all: not tracked, never zero.
"""

from __future__ import annotations

from growth_pipeline.catalog import Catalog, Feature


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _date(value) -> str:
    return "NULL::DATE" if value is None else f"DATE '{value.isoformat()}'"


def _eligible_team_days_sql(catalog: Catalog, feature: Feature, *, window_only: bool) -> str:
    """One row per eligible team and day of ``feature`` before $end, from its collected_from (the history
    first use needs) or, with ``window_only``, from $start."""
    offered = ", ".join(_text(tier) for tier in feature.tiers)
    since = "AND snapshot_date >= $start" if window_only else ""
    return f"""
    SELECT {_text(feature.key)} AS feature, snapshot_date, team_id, tier,
           CAST(timezone('UTC', created_at) AS DATE) AS created_on,
           {feature.signal.sql()} AS adopting
    FROM team_usage
    WHERE snapshot_date >= {_date(feature.collected_from)} {since} AND snapshot_date < $end
      AND tier IN ({offered}) AND NOT coalesce(suspended, false) AND {catalog.active_team_sql()}"""


def daily_adoption_sql(catalog: Catalog) -> str:
    """The feature_adoption rows of every collected day in [$start, $end), every feature x offered tier
    plus 'all', in one set-based statement. Reads the day before $start (new and lost adopters) and each
    feature's history from its collected_from (first use), so any window gives the same rows."""
    features = ",\n        ".join(
        f"({_text(f.key)}, {_date(f.collected_from)}, {_date(f.launched)}, [{', '.join(_text(t) for t in f.tiers)}])"
        for f in catalog.features
    )
    eligible = "\n    UNION ALL".join(_eligible_team_days_sql(catalog, f, window_only=False) for f in catalog.features)
    return f"""
WITH features(feature, collected_from, launched, tiers) AS (
    VALUES {features}
), status AS ({eligible}
), data_days AS (
    SELECT DISTINCT snapshot_date FROM team_usage WHERE snapshot_date < $end
), tracked AS (
    SELECT f.feature, d.snapshot_date, f.tiers FROM features f JOIN data_days d ON d.snapshot_date >= f.collected_from
), first_tracked AS (
    SELECT feature, min(snapshot_date) AS first_day FROM tracked GROUP BY feature
), grid AS (
    SELECT t.feature, t.snapshot_date, unnest(list_append(t.tiers, 'all')) AS tier,
           y.snapshot_date IS NOT NULL AS yesterday_tracked
    FROM tracked t LEFT JOIN tracked y ON y.feature = t.feature AND y.snapshot_date = t.snapshot_date - 1
    WHERE t.snapshot_date >= $start
), levels AS (
    SELECT feature, snapshot_date, CASE WHEN grouping(tier) = 1 THEN 'all' ELSE tier END AS tier,
           count(*) AS eligible, count(*) FILTER (WHERE adopting) AS adopting,
           count(*) FILTER (WHERE adopting IS NULL) AS unknown
    FROM status WHERE snapshot_date >= $start
    GROUP BY GROUPING SETS ((feature, snapshot_date, tier), (feature, snapshot_date))
), moves AS (
    SELECT coalesce(t.feature, y.feature) AS feature, coalesce(t.snapshot_date, y.snapshot_date + 1) AS snapshot_date,
           t.tier AS tier_now, y.tier AS tier_before,
           CASE WHEN t.team_id IS NULL THEN false ELSE t.adopting END AS adopting_now,
           CASE WHEN y.team_id IS NULL THEN false ELSE y.adopting END AS adopting_before
    FROM (SELECT * FROM status WHERE snapshot_date >= $start) t
    FULL JOIN (SELECT * FROM status WHERE snapshot_date >= $start - 1 AND snapshot_date < $end - 1) y
      ON t.feature = y.feature AND t.team_id = y.team_id AND t.snapshot_date = y.snapshot_date + 1
), gained AS (
    SELECT feature, snapshot_date, CASE WHEN grouping(tier_now) = 1 THEN 'all' ELSE tier_now END AS tier,
           count(*) FILTER (WHERE adopting_now AND NOT adopting_before) AS teams,
           count(*) FILTER (WHERE (adopting_now AND NOT adopting_before) IS NULL) AS unknown
    FROM moves WHERE tier_now IS NOT NULL
    GROUP BY GROUPING SETS ((feature, snapshot_date, tier_now), (feature, snapshot_date))
), lost AS (
    SELECT feature, snapshot_date, CASE WHEN grouping(tier_before) = 1 THEN 'all' ELSE tier_before END AS tier,
           count(*) FILTER (WHERE adopting_before AND NOT adopting_now) AS teams,
           count(*) FILTER (WHERE (adopting_before AND NOT adopting_now) IS NULL) AS unknown
    FROM moves WHERE tier_before IS NOT NULL
    GROUP BY GROUPING SETS ((feature, snapshot_date, tier_before), (feature, snapshot_date))
), firsts AS (
    SELECT feature, team_id, min(snapshot_date) AS first_day,
           arg_min(tier, snapshot_date) AS tier, arg_min(created_on, snapshot_date) AS created_on
    FROM status WHERE adopting GROUP BY feature, team_id
), timed AS (
    SELECT fi.feature, fi.tier, fi.first_day,
           CASE WHEN fi.created_on IS NULL THEN NULL
                WHEN fi.first_day = ft.first_day AND greatest(f.launched, fi.created_on) < fi.first_day THEN NULL
                ELSE fi.first_day - greatest(f.launched, fi.created_on) END AS days_to_first_use
    FROM firsts fi JOIN features f USING (feature) JOIN first_tracked ft USING (feature)
), reach AS (
    SELECT d.feature, d.snapshot_date, CASE WHEN grouping(ti.tier) = 1 THEN 'all' ELSE ti.tier END AS tier,
           count(*) AS ever_adopted,
           quantile_cont(ti.days_to_first_use, 0.5) AS median_days,
           quantile_cont(ti.days_to_first_use, 0.75) AS p75_days
    FROM (SELECT DISTINCT feature, snapshot_date FROM grid) d
    JOIN timed ti ON ti.feature = d.feature AND ti.first_day <= d.snapshot_date
    GROUP BY GROUPING SETS ((d.feature, d.snapshot_date, ti.tier), (d.feature, d.snapshot_date))
)
SELECT g.snapshot_date, g.feature, g.tier,
       coalesce(l.eligible, 0) AS eligible_teams,
       CASE WHEN coalesce(l.unknown, 0) = 0 THEN coalesce(l.adopting, 0) END AS adopting_teams,
       CASE WHEN coalesce(l.unknown, 0) = 0 AND l.eligible > 0 THEN l.adopting / l.eligible END AS adoption_rate,
       CASE WHEN g.yesterday_tracked AND coalesce(n.unknown, 0) = 0 THEN coalesce(n.teams, 0) END AS new_adopters,
       CASE WHEN g.yesterday_tracked AND coalesce(x.unknown, 0) = 0 THEN coalesce(x.teams, 0) END AS lost_adopters,
       coalesce(r.ever_adopted, 0) AS ever_adopted,
       r.median_days AS median_days_to_first_use,
       r.p75_days AS p75_days_to_first_use
FROM grid g
LEFT JOIN levels l USING (feature, snapshot_date, tier)
LEFT JOIN gained n USING (feature, snapshot_date, tier)
LEFT JOIN lost x USING (feature, snapshot_date, tier)
LEFT JOIN reach r USING (feature, snapshot_date, tier)
ORDER BY g.snapshot_date, g.feature, g.tier
"""


def adoption_metrics_sql(catalog: Catalog) -> str | None:
    """platform_metrics rows (snapshot_date, metric, segment, value) for the catalog's adoption metrics
    (device adoption, pipeline adoption): the feature's adoption rate in [$start, $end), 'all' and per
    'tier:<tier>'. No row where it is not tracked or unknown. None when the catalog declares none."""
    parts = []
    for metric in catalog.adoption_metrics():
        feature = catalog.feature(metric.adoption_of)
        parts.append(f"""
    SELECT snapshot_date, {_text(metric.key)} AS metric,
           CASE WHEN grouping(tier) = 1 THEN 'all' ELSE 'tier:' || tier END AS segment,
           count(*) FILTER (WHERE adopting) / count(*) AS value
    FROM ({_eligible_team_days_sql(catalog, feature, window_only=True)})
    GROUP BY GROUPING SETS ((snapshot_date, tier), (snapshot_date))
    HAVING count(*) FILTER (WHERE adopting IS NULL) = 0""")
    return "\n    UNION ALL".join(parts) or None


# The level at the end of each ISO week, per feature and tier: the latest day of the week with a row
# (Sunday when the week is complete), and the days of the week without one (not tracked, or no snapshot).
END_OF_WEEK_SQL = """
WITH days AS (
    SELECT * FROM feature_adoption WHERE snapshot_date >= $start AND snapshot_date < $end
), ends AS (
    SELECT CAST(date_trunc('week', snapshot_date) AS DATE) AS week_start, feature, tier,
           snapshot_date AS value_date, eligible_teams, adopting_teams, adoption_rate
    FROM days
    QUALIFY row_number() OVER (PARTITION BY date_trunc('week', snapshot_date), feature, tier
                               ORDER BY snapshot_date DESC) = 1
), missing AS (
    SELECT e.week_start, e.feature, e.tier,
           string_agg(strftime(e.week_start + CAST(w.k AS INTEGER), '%Y-%m-%d'), ', ' ORDER BY w.k) AS missing_days
    FROM ends e CROSS JOIN range(7) w(k)
    WHERE NOT EXISTS (SELECT 1 FROM days d WHERE d.feature = e.feature AND d.tier = e.tier
                                            AND d.snapshot_date = e.week_start + CAST(w.k AS INTEGER))
    GROUP BY ALL
)
SELECT e.*, m.missing_days FROM ends e LEFT JOIN missing m USING (week_start, feature, tier)
"""
