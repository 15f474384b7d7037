"""Schedules: the day that just ended, the week that just ended, and the freshness checks at the deadline.

All are STOPPED until someone turns them on (the UI's Automation page, or `dagster schedule start NAME`),
so `dagster dev` on a laptop never starts fetching on its own.
"""

import dagster as dg

from growth_pipeline.quality.freshness import DEADLINE_HOURS

STOPPED = dg.DefaultScheduleStatus.STOPPED


def pipeline_schedules(daily_job, weekly_job, freshness_checks_job) -> list:
    """Each partitioned schedule requests the latest complete partition at its tick, as Dagster's
    partitioned schedules do: at 00:15 UTC the day that just ended, on Monday at 02:00 UTC the ISO week
    that just ended (after the daily run has stored its Sunday)."""
    return [
        dg.build_schedule_from_partitioned_job(
            daily_job, name="daily_snapshot_schedule", hour_of_day=0, minute_of_hour=15, default_status=STOPPED
        ),
        dg.build_schedule_from_partitioned_job(
            weekly_job, name="weekly_growth_schedule", hour_of_day=2, minute_of_hour=0, default_status=STOPPED
        ),
        dg.ScheduleDefinition(
            name="freshness_checks_schedule",
            job=freshness_checks_job,
            cron_schedule=f"5 {DEADLINE_HOURS} * * *",
            execution_timezone="UTC",
            default_status=STOPPED,
            description="Just after the deadline, checks that every asset's latest due partition is there.",
        ),
    ]
