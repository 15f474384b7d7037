"""What each data-quality check judges, one verdict per partition, read from DuckDB. No Dagster.

Each ``*_verdicts(conn, start, end)`` reads the window [start, end) in a few set-based queries and
returns a Verdict for every partition in it (a day, or a week's Monday), so a single-run backfill of a
year is judged in one pass. The Dagster checks in ``checks.py`` turn verdicts into check evaluations.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from growth_pipeline.ingest.snapshot import snapshot_problems
from growth_pipeline.quality.anomaly import DEFAULT_SETTINGS, AnomalySettings, NotJudged, Score, score_day

ERROR, WARN = "ERROR", "WARN"
SHOWN_PROBLEMS = 20  # a verdict's description lists at most this many problems, and says how many more

# A live platform answers GET /admin/stats and the team list pages moments apart: a team created or deleted
# in between makes them differ by one or two. More than this, in any tier, means rows were lost or mislabelled.
TEAM_COUNT_RACE_TOLERANCE = 2


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    details: str | None = None  # a markdown table for the UI
    severity: str | None = None  # ERROR or WARN; None keeps the check's own


def each_day(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _listed(problems: list[str]) -> str:
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = f"; ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return shown + more


def _bullets(problems: list[str]) -> str:
    return "\n".join(f"- {p}" for p in problems[:SHOWN_PROBLEMS])


# ------------------------------------------------------------------------------ raw snapshot integrity


def snapshot_integrity_verdicts(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[date, Verdict]:
    """Each day's stored raw snapshot, judged by the same rules the ingest applies before storing one
    (``snapshot_problems``): it parses, required fields are there with the right types, counts are
    non-negative whole numbers, team ids are unique, its snapshot_date is the day it is stored under."""
    documents: dict[date, list[str]] = defaultdict(list)
    cursor = conn.execute(
        "SELECT snapshot_date, CAST(document AS VARCHAR) FROM raw_snapshots "
        "WHERE snapshot_date >= ? AND snapshot_date < ? ORDER BY snapshot_date",
        [start, end],
    )
    verdicts: dict[date, Verdict] = {}
    while batch := cursor.fetchmany(64):  # a document is ~0.3 MB: never hold a whole year of them
        for day, text in batch:
            documents[day].append(text)
        for day in list(documents)[:-1]:  # ordered by day: every day but the last is complete
            verdicts[day] = _integrity_verdict(day, documents.pop(day))
    for day, texts in documents.items():
        verdicts[day] = _integrity_verdict(day, texts)
    for day in each_day(start, end):
        verdicts.setdefault(
            day, Verdict(False, f"no raw snapshot is stored for {day}", {"snapshot_date": str(day), "problems": 1})
        )
    return verdicts


def _integrity_verdict(day: date, texts: list[str]) -> Verdict:
    problems = [f"{len(texts)} documents are stored for {day}; there must be one"] if len(texts) > 1 else []
    for text in texts:
        try:
            document = json.loads(text)
        except ValueError as error:
            problems.append(f"the document does not parse as JSON: {error}")
        else:
            problems += snapshot_problems(document, day)
    metadata = {"snapshot_date": str(day), "problems": len(problems)}
    if not problems:
        return Verdict(True, f"the stored snapshot for {day} is sound", metadata)
    return Verdict(
        False,
        f"the stored snapshot for {day} has {len(problems)} problem{'s' if len(problems) != 1 else ''}: "
        + _listed(problems),
        metadata,
        details=_bullets(problems),
    )


# ------------------------------------------------------------------------------ team rows vs the platform


def team_count_verdicts(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[date, Verdict]:
    """Each day's team_usage rows, counted by tier, against the platform's own count in the raw snapshot
    (GET /admin/stats ``teamsByType`` and ``teamCount``, from the stats copy beside each document)."""
    stats = dict(
        conn.execute(
            "SELECT snapshot_date, CAST(stats AS VARCHAR) FROM raw_snapshot_days "
            "WHERE snapshot_date >= ? AND snapshot_date < ?",
            [start, end],
        ).fetchall()
    )
    rows: dict[date, dict[str, int]] = defaultdict(dict)
    for day, tier, teams in conn.execute(
        "SELECT snapshot_date, coalesce(tier, '(no tier)'), count(*) FROM team_usage "
        "WHERE snapshot_date >= ? AND snapshot_date < ? GROUP BY ALL",
        [start, end],
    ).fetchall():
        rows[day][tier] = teams
    return {
        day: team_count_verdict(day, rows.get(day, {}), json.loads(stats[day]) if day in stats else None)
        for day in each_day(start, end)
    }


def team_count_verdict(day: date, rows_by_tier: Mapping[str, int], stats: Mapping[str, Any] | None) -> Verdict:
    if stats is None:
        return Verdict(False, f"no raw snapshot is stored for {day}: nothing to compare the team rows with", {})
    by_type = stats.get("teamsByType")
    platform: dict[str, int] = dict(by_type) if isinstance(by_type, dict) else {}
    lines = [
        (tier, rows_by_tier.get(tier, 0), platform.get(tier, 0)) for tier in sorted(set(rows_by_tier) | set(platform))
    ]
    if not isinstance(by_type, dict):  # an older platform without the breakdown: compare the total only
        lines = [("all (teamsByType not reported)", sum(rows_by_tier.values()), stats.get("teamCount", 0))]
    elif "teamCount" in stats:
        lines.append(("all", sum(rows_by_tier.values()), stats["teamCount"]))
    differences = [(tier, ours, theirs) for tier, ours, theirs in lines if ours != theirs]
    details = "| tier | team rows | platform | difference |\n|---|---|---|---|\n" + "\n".join(
        f"| {tier} | {ours} | {theirs} | {ours - theirs:+d} |" for tier, ours, theirs in lines
    )
    metadata = {"team_rows": sum(rows_by_tier.values()), "platform_team_count": stats.get("teamCount")}
    if not differences:
        return Verdict(True, f"{day}: team rows match the platform's count in every tier", metadata, details)
    worst = max(abs(ours - theirs) for _, ours, theirs in differences)
    described = ", ".join(f"{tier}: {ours} rows, platform says {theirs}" for tier, ours, theirs in differences)
    return Verdict(
        False,
        f"{day}: team rows disagree with the platform's team count ({described})",
        {**metadata, "largest_difference": worst},
        details,
        severity=WARN if worst <= TEAM_COUNT_RACE_TOLERANCE else ERROR,
    )


# ------------------------------------------------------------------------------ adoption bounds


def adoption_verdicts(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[date, Verdict]:
    """Each day's feature adoption rows: counts non-negative, adopting <= eligible, the rate in [0, 1]
    and equal to adopting / eligible, and the 'all' row the sum of its tiers."""
    by_day: dict[date, list[tuple]] = defaultdict(list)
    for row in conn.execute(
        "SELECT snapshot_date, feature, tier, eligible_teams, adopting_teams, adoption_rate FROM feature_adoption "
        "WHERE snapshot_date >= ? AND snapshot_date < ?",
        [start, end],
    ).fetchall():
        by_day[row[0]].append(row[1:])
    return {day: adoption_verdict(day, by_day.get(day, [])) for day in each_day(start, end)}


def adoption_verdict(day: date, rows: Iterable[tuple[str, str, Any, Any, Any]]) -> Verdict:
    """``rows``: (feature, tier, eligible_teams, adopting_teams, adoption_rate); NULL adopting is unknown."""
    rows = list(rows)
    problems: list[str] = []
    tiers_sum: dict[str, list[int | None]] = defaultdict(lambda: [0, 0])
    totals: dict[str, tuple[Any, Any]] = {}
    for feature, tier, eligible, adopting, rate in sorted(rows, key=lambda r: (r[0], r[1])):
        where = f"{feature} / {tier}"
        if eligible is None or eligible < 0:
            problems.append(f"{where}: eligible_teams is {eligible}")
        if adopting is not None and adopting < 0:
            problems.append(f"{where}: adopting_teams is {adopting}")
        if adopting is not None and eligible is not None and adopting > eligible:
            problems.append(f"{where}: {adopting} adopting teams exceed {eligible} eligible teams")
        if rate is not None and not (0 <= rate <= 1):
            problems.append(f"{where}: adoption_rate {rate:.4f} is outside [0, 1]")
        elif rate is not None and adopting is not None and eligible and not math.isclose(rate, adopting / eligible):
            problems.append(f"{where}: adoption_rate {rate:.4f} is not {adopting}/{eligible}")
        if tier == "all":
            totals[feature] = (eligible, adopting)
        else:
            summed = tiers_sum[feature]
            summed[0] = None if summed[0] is None or eligible is None else summed[0] + eligible
            summed[1] = None if summed[1] is None or adopting is None else summed[1] + adopting
    for feature, (eligible, adopting) in sorted(totals.items()):
        summed_eligible, summed_adopting = tiers_sum.get(feature, [0, 0])
        if None not in (eligible, summed_eligible) and eligible != summed_eligible:
            problems.append(f"{feature} / all: {eligible} eligible teams, but its tiers add up to {summed_eligible}")
        if None not in (adopting, summed_adopting) and adopting != summed_adopting:
            problems.append(f"{feature} / all: {adopting} adopting teams, but its tiers add up to {summed_adopting}")
    metadata = {"rows": len(rows), "problems": len(problems)}
    if not problems:
        return Verdict(True, f"{day}: {len(rows)} adoption rows within bounds", metadata)
    return Verdict(False, f"{day}: {_listed(problems)}", metadata, details=_bullets(problems))


# ------------------------------------------------------------------------------ anomalies


def anomaly_verdicts(
    conn: duckdb.DuckDBPyConnection, start: date, end: date, settings: AnomalySettings = DEFAULT_SETTINGS
) -> dict[date, Verdict]:
    """Each day's platform metrics (every metric and segment), scored against their trailing history."""
    history_start = start - timedelta(weeks=settings.window_weeks, days=1)
    series: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
    for day, metric, segment, value in conn.execute(
        "SELECT snapshot_date, metric, segment, value FROM platform_metrics "
        "WHERE snapshot_date >= ? AND snapshot_date < ?",
        [history_start, end],
    ).fetchall():
        series[(metric, segment)][day] = value
    return {day: anomaly_verdict(day, series, settings) for day in each_day(start, end)}


def anomaly_verdict(
    day: date, series: Mapping[tuple[str, str], Mapping[date, float]], settings: AnomalySettings = DEFAULT_SETTINGS
) -> Verdict:
    scores: list[tuple[str, Score]] = []
    not_judged: list[tuple[str, NotJudged]] = []
    for (metric, segment), levels in sorted(series.items()):
        if day not in levels:
            continue
        result = score_day(levels, day, settings)
        name = metric if segment == "all" else f"{metric} ({segment})"
        if isinstance(result, Score):
            scores.append((name, result))
        else:
            not_judged.append((name, result))
    flagged = [(name, s) for name, s in scores if s.anomalous]
    metadata: dict[str, Any] = {"metrics_judged": len(scores), "metrics_not_judged": len(not_judged)}
    if not scores:
        reason = not_judged[0][1].reason if not_judged else f"no platform metrics on {day}"
        return Verdict(True, f"{day}: not judged yet ({reason})", metadata)
    ranked = sorted(scores, key=lambda item: abs(item[1].score), reverse=True)
    name, worst = ranked[0]
    metadata |= {
        "anomalies": len(flagged),
        "metric": name,
        "value": worst.value,
        "expected_range": f"{worst.expected_low:,.1f} to {worst.expected_high:,.1f}",
        "score": round(worst.score, 2),
    }
    shown = flagged or ranked[:3]
    details = "| metric | value | previous day | expected range | score |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {n} | {s.value:,.0f} | {s.previous_value:,.0f} | {s.expected_low:,.1f} to {s.expected_high:,.1f} "
        f"| {s.score:+.1f} |"
        for n, s in shown
    )
    if not flagged:
        return Verdict(
            True,
            f"{day}: all {len(scores)} metrics within their expected range (largest score {worst.score:+.1f}, {name})",
            metadata,
            details,
        )
    described = "; ".join(
        f"{n} is {s.value:,.0f}, expected {s.expected_low:,.1f} to {s.expected_high:,.1f} (score {s.score:+.1f})"
        for n, s in flagged
    )
    return Verdict(
        False, f"{day}: {len(flagged)} of {len(scores)} metrics out of range: {described}", metadata, details
    )


# ------------------------------------------------------------------------------ weekly completeness


def week_completeness_verdicts(
    conn: duckdb.DuckDBPyConnection, table: str, start: date, end: date
) -> dict[date, Verdict]:
    """Each ISO week (keyed by its Monday) in [start, end): the days of the week ``table`` has no rows for."""
    present = {
        row[0]
        for row in conn.execute(
            f"SELECT DISTINCT snapshot_date FROM {table} WHERE snapshot_date >= ? AND snapshot_date < ?", [start, end]
        ).fetchall()
    }
    mondays = [start + timedelta(weeks=i) for i in range((end - start).days // 7)]
    return {monday: week_completeness_verdict(monday, present, table) for monday in mondays}


def week_completeness_verdict(monday: date, present_days: set[date], table: str) -> Verdict:
    days = each_day(monday, monday + timedelta(days=7))
    missing = [d for d in days if d not in present_days]
    week = f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}"
    metadata = {"week": week, "days_present": 7 - len(missing), "missing_days": ", ".join(map(str, missing))}
    if not missing:
        return Verdict(True, f"{week} ({monday} to {days[-1]}): all 7 days are in {table}", metadata)
    listed = ", ".join(f"{d} ({d:%a})" for d in missing)
    return Verdict(
        False, f"{week} is built on a week with {len(missing)} missing day(s) in {table}: {listed}", metadata
    )


def accounting_verdicts(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[date, Verdict]:
    """Each ISO week (keyed by its Monday) in [start, end) of team_growth_accounting, judged by
    ``accounting_verdict``."""
    rows = conn.execute(
        "SELECT week_start, tier, active_teams, new_teams, retained_teams, resurrected_teams, churned_teams, "
        "quick_ratio FROM team_growth_accounting WHERE week_start >= ? AND week_start < ?",
        [start, end],
    ).fetchall()
    by_week: dict[date, list[tuple]] = defaultdict(list)
    for week_start, *rest in rows:
        by_week[week_start].append(tuple(rest))
    mondays = [start + timedelta(weeks=i) for i in range((end - start).days // 7)]
    return {monday: accounting_verdict(monday, by_week.get(monday, [])) for monday in mondays}


def accounting_verdict(monday: date, rows: Iterable[tuple]) -> Verdict:
    """A week's growth accounting balances: per tier, new + retained + resurrected = active; no count is
    negative; the quick ratio is (new + resurrected) / churned (NULL when nothing churned); and every state's
    tiers add up to the 'all' row. Rows of unknown states (no team data that week) are NULL and pass."""
    rows = list(rows)
    week = f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}"
    if not rows:
        return Verdict(False, f"{week}: team_growth_accounting has no rows for this week", {"week": week})
    problems: list[str] = []
    totals: dict[str, list[int]] = {}
    for tier, active, new, retained, resurrected, churned, quick_ratio in rows:
        counts = (active, new, retained, resurrected, churned)
        if any(c is None for c in counts):
            continue
        totals[tier] = list(counts)
        if min(counts) < 0:
            problems.append(f"{tier}: a negative count {counts}")
        if new + retained + resurrected != active:
            problems.append(f"{tier}: new {new} + retained {retained} + resurrected {resurrected} != active {active}")
        expected_ratio = (new + resurrected) / churned if churned else None
        if (expected_ratio is None) != (quick_ratio is None) or (
            expected_ratio is not None and not math.isclose(quick_ratio, expected_ratio)
        ):
            problems.append(
                f"{tier}: quick ratio {quick_ratio} is not (new + resurrected) / churned = {expected_ratio}"
            )
    if "all" in totals:
        tiers = [counts for tier, counts in totals.items() if tier != "all"]
        summed = [sum(column) for column in zip(*tiers, strict=True)] if tiers else [0] * 5
        if summed != totals["all"]:
            problems.append(
                f"the tiers add up to {summed} (active, new, retained, resurrected, churned), not 'all' {totals['all']}"
            )
    metadata = {"week": week, "tiers": len(rows)}
    if problems:
        return Verdict(False, f"{week}: the growth accounting does not balance: {_listed(problems)}", metadata)
    return Verdict(True, f"{week}: the growth accounting balances in every tier", metadata)


EXTERNAL_FETCH = re.compile(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)""")


def dashboard_verdict(page: str | None, path: str, shown_week: str | None, latest_week: str | None) -> Verdict:
    """The dashboard file is there, shows the latest ISO week of weekly_growth, and fetches nothing from
    the network (it must open offline and travel as an attachment)."""
    metadata = {"path": path, "shown_week": shown_week or "none", "latest_week": latest_week or "none"}
    if page is None:
        return Verdict(False, f"the dashboard file {path} is missing", metadata)
    problems = []
    if shown_week != latest_week:
        problems.append(f"it shows {shown_week} but the latest week of weekly_growth is {latest_week}")
    if shown_week and shown_week not in page:
        problems.append(f"the page does not name its week {shown_week}")
    fetched = EXTERNAL_FETCH.search(page)
    if fetched:
        problems.append(f"it would fetch from the network: {page[fetched.start() : fetched.start() + 60]!r}")
    if problems:
        return Verdict(False, f"the dashboard {path}: {_listed(problems)}", metadata)
    return Verdict(True, f"the dashboard shows {shown_week}, the latest week, and opens offline", metadata)


# ------------------------------------------------------------------------------ freshness deadlines


def latest_due_day(now: datetime, grace: timedelta) -> date:
    """The latest day whose data is due by ``now``: a day is due ``grace`` after it ends (midnight UTC)."""
    return (now - grace).date() - timedelta(days=1)


def latest_due_week(now: datetime, grace: timedelta) -> date:
    """The Monday of the latest ISO week due by ``now``: a week is due ``grace`` after its Sunday ends."""
    shifted = (now - grace).date()
    return shifted - timedelta(days=shifted.weekday()) - timedelta(weeks=1)
