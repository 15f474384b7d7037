"""A deterministic, simulated FlowFuse-like platform: the demo's data source.

Everything the platform will ever hold is drawn up front, team by team, as numpy columns: when a team
joins, its tier and upgrades, when it is suspended or leaves, how its instances and devices grow, and
when (if ever) it starts, stops and resumes using each feature. The state on a day is then a vectorised
read of those columns, so any day can be asked for in any order and costs the same.

Teams join so that the team count follows a schedule of weekly growth regimes that visits every band of
DESIGN.md section 4 (including a shrinking stretch), with fewer sign-ups at weekends. Each day's random
draws come from a generator seeded by (seed, day), so a seed always gives the same platform.

The numbers are SIMULATED. Nothing here describes a real FlowFuse platform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

TIERS = ("starter", "team", "enterprise")
STARTER, TEAM, ENTERPRISE = range(3)
NEVER = np.iinfo(np.int32).max // 2  # a day index after any horizon

# Weekly growth of the team count, as (weeks, rate), repeated from the start. Chosen to cross every band:
# exceptional (>= 6%), strong, sustainable, okay, not acceptable, and a shrinking stretch.
DEFAULT_REGIMES: tuple[tuple[int, float], ...] = (
    (3, 0.030), (2, 0.050), (2, 0.068), (4, 0.022), (6, 0.013), (6, 0.005),
    (3, -0.010), (5, 0.016), (2, 0.045), (7, 0.008), (4, 0.027), (6, 0.002),
)  # fmt: skip

# Sign-ups by weekday (Monday first): a working-week rhythm.
WEEKDAY_WEIGHTS = np.array([1.2, 1.25, 1.25, 1.2, 1.05, 0.5, 0.45])


@dataclass(frozen=True)
class SimulatedFeature:
    """A feature the simulated platform launches on a date and teams adopt along an S-curve."""

    key: str
    launched: date
    tiers: tuple[int, ...]
    adoption_ceiling: tuple[float, float, float]  # share of eligible teams that ever adopt, by tier
    median_days_to_adopt: float  # for teams that exist at launch; new teams adopt twice as fast
    spread: float  # lognormal sigma of the delay: larger is a flatter S-curve
    days_per_extra_unit: int  # a using team's counter grows by one every this many days
    max_units: int


# Launch dates are FlowFuse's own (DESIGN.md section 2): DevOps pipelines, the MQTT team broker, Tables.
DEFAULT_FEATURES: tuple[SimulatedFeature, ...] = (
    SimulatedFeature("pipelines", date(2023, 9, 28), (TEAM, ENTERPRISE), (0.0, 0.45, 0.75), 60, 0.9, 90, 8),
    SimulatedFeature("mqtt_clients", date(2024, 10, 24), (TEAM, ENTERPRISE), (0.0, 0.5, 0.8), 45, 0.8, 30, 60),
    SimulatedFeature("tables", date(2025, 7, 31), (ENTERPRISE,), (0.0, 0.0, 0.7), 30, 0.7, 120, 3),
)


@dataclass(frozen=True)
class SimulationSettings:
    seed: int = 7
    start: date = date(2023, 9, 1)
    initial_teams: int = 40
    tier_mix: tuple[float, float, float] = (0.74, 0.19, 0.07)
    regimes: tuple[tuple[int, float], ...] = DEFAULT_REGIMES
    features: tuple[SimulatedFeature, ...] = DEFAULT_FEATURES


@dataclass
class PlatformState:
    """What the platform holds at the end of one day, in FlowFuse API shapes."""

    day: date
    stats: dict
    teams: list[dict]
    pipelines: dict[str, int] = field(default_factory=dict)  # team id -> pipelines (eligible teams only)
    tables: dict[str, int] = field(default_factory=dict)  # team id -> Tables databases (eligible teams only)


def _team_id(index: int, seed: int) -> str:
    """A 10-character id shaped like FlowFuse's hashids; a bijection of the index, so ids never collide."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n = ((index + 1) * 518_715_534_800_990_977 + 48_271 * seed) % 62**10  # odd, coprime with 62
    chars = []
    for _ in range(10):
        n, r = divmod(n, 62)
        chars.append(alphabet[r])
    return "".join(chars)


class _Columns:
    """Growable numpy columns, one row per team, in creation order."""

    def __init__(self) -> None:
        self.size = 0
        self.data: dict[str, np.ndarray] = {}

    def append(self, chunk: dict[str, np.ndarray]) -> None:
        n = len(next(iter(chunk.values())))
        for name, values in chunk.items():
            column = self.data.get(name)
            if column is None:
                column = self.data[name] = np.empty(max(64, n * 2), dtype=values.dtype)
            elif self.size + n > len(column):
                grown = np.empty(max(len(column) * 2, self.size + n), dtype=column.dtype)
                grown[: self.size] = column[: self.size]
                column = self.data[name] = grown
            column[self.size : self.size + n] = values
        self.size += n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name][: self.size]


class SimulatedPlatform:
    """A seeded FlowFuse-like platform that can report its state on any day from ``settings.start``."""

    def __init__(self, settings: SimulationSettings | None = None) -> None:
        self.settings = settings or SimulationSettings()
        self._teams = _Columns()
        self._created_at: list[str] = []
        self._generated_through = -1  # last day index whose sign-ups and churn are drawn
        self._week_targets = [float(self.settings.initial_teams)]  # team count due at the end of week k

    # ----------------------------------------------------------------- the population over time

    def _day_index(self, day: date) -> int:
        index = (day - self.settings.start).days
        if index < 0:
            raise ValueError(
                f"the simulated platform starts on {self.settings.start.isoformat()}; "
                f"it has no state for {day.isoformat()}"
            )
        return index

    def _weekly_growth(self, week_number: int) -> float:
        regimes = self.settings.regimes
        cycle = sum(weeks for weeks, _ in regimes)
        position = week_number % cycle
        for weeks, rate in regimes:
            if position < weeks:
                return rate
            position -= weeks
        raise AssertionError("unreachable")

    def target_teams(self, index: int) -> float:
        """The team count the platform steers towards on day ``index`` (sign-ups follow the weekday rhythm)."""
        start_weekday = self.settings.start.weekday()
        offset = index + start_weekday  # days since the Monday on or before the start
        week, weekday = divmod(offset, 7)
        while len(self._week_targets) <= week + 1:
            self._week_targets.append(self._week_targets[-1] * (1 + self._weekly_growth(len(self._week_targets) - 1)))
        week_start, week_end = self._week_targets[week], self._week_targets[week + 1]
        progress = WEEKDAY_WEIGHTS[: weekday + 1].sum() / WEEKDAY_WEIGHTS.sum()
        return week_start + (week_end - week_start) * progress

    def _ensure_generated(self, index: int) -> None:
        while self._generated_through < index:
            day = self._generated_through + 1
            rng = np.random.default_rng([self.settings.seed, day])
            if day == 0:
                count = self.settings.initial_teams
                created = -rng.integers(0, 720, size=count)
                self._add_teams(rng, created, day)
            else:
                churn = self._teams["churn_day"]
                alive_after_churn = int(np.count_nonzero(churn > day))
                needed = self.target_teams(day) - alive_after_churn
                if needed > 0:
                    arrivals = int(rng.poisson(needed))
                    if arrivals:
                        self._add_teams(rng, np.full(arrivals, day), day)
                elif needed <= -1:
                    # A shrinking regime: more teams leave today than natural churn would take.
                    alive = np.nonzero(churn > day)[0]
                    leaving = rng.choice(alive, size=min(len(alive), round(-needed)), replace=False)
                    churn[leaving] = day
            self._generated_through = day

    def _add_teams(self, rng: np.random.Generator, created: np.ndarray, day: int) -> None:
        n = len(created)
        s = self.settings
        tier = rng.choice(3, size=n, p=np.array(s.tier_mix) / sum(s.tier_mix))
        by_tier = lambda values: np.asarray(values)[tier]  # noqa: E731

        lifetime = rng.exponential(by_tier([420.0, 900.0, 1600.0]))
        # Teams created before the start have already survived to it; churn is memoryless from there.
        churn_day = np.maximum(created, day) + 1 + np.floor(lifetime).astype(np.int64)

        upgrades = np.where(tier == STARTER, rng.random(n) < 0.15, np.where(tier == TEAM, rng.random(n) < 0.06, False))
        upgrade_day = np.where(
            upgrades, created + 14 + np.floor(rng.exponential(by_tier([120.0, 200.0, 1.0]))), NEVER
        ).astype(np.int64)
        upgraded_tier = np.minimum(tier + 1, ENTERPRISE)

        suspended = rng.random(n) < 0.05
        suspend_from = np.where(suspended, created + 20 + np.floor(rng.exponential(300.0, n)), NEVER)
        for_good = rng.random(n) < 0.35
        suspend_until = np.where(suspended & ~for_good, suspend_from + 3 + np.floor(rng.exponential(25.0, n)), NEVER)

        has_instances = rng.random(n) < by_tier([0.65, 0.92, 0.98])
        instances_from = np.where(has_instances, created + rng.geometric(0.3, n) - 1, NEVER)
        has_devices = rng.random(n) < by_tier([0.22, 0.45, 0.75])
        devices_from = np.where(has_devices, created + np.ceil(rng.lognormal(math.log(25), 1.0, n)), NEVER).astype(
            np.int64
        )
        drops_devices = rng.random(n) < 0.1
        devices_until = np.where(
            has_devices & drops_devices, devices_from + 30 + np.floor(rng.exponential(150.0, n)), NEVER
        )

        chunk: dict[str, np.ndarray] = {
            "created_day": created.astype(np.int64),
            "churn_day": churn_day.astype(np.int64),
            "tier": tier.astype(np.int8),
            "upgrade_day": upgrade_day,
            "upgraded_tier": upgraded_tier.astype(np.int8),
            "suspend_from": suspend_from.astype(np.int64),
            "suspend_until": suspend_until.astype(np.int64),
            "members_base": (rng.geometric(by_tier([0.6, 0.35, 0.15]))).astype(np.int64),
            "members_every": by_tier([240, 150, 60]).astype(np.int64),
            "members_cap": by_tier([5, 30, 200]).astype(np.int64),
            "instances_from": instances_from.astype(np.int64),
            "instances_every": by_tier([400, 120, 45]).astype(np.int64),
            "instances_cap": by_tier([2, 8, 40]).astype(np.int64),
            "stopped_share": np.where(rng.random(n) < 0.2, rng.uniform(0.2, 0.5, n), 0.0),
            "devices_from": devices_from,
            "devices_until": devices_until.astype(np.int64),
            "devices_every": by_tier([200, 40, 7]).astype(np.int64),
            "devices_cap": by_tier([3, 40, 500]).astype(np.int64),
            "developer_share": rng.uniform(0.0, 0.3, n),
        }
        for feature in s.features:
            chunk.update(self._draw_feature(rng, feature, created, tier, upgrade_day, upgraded_tier))

        self._teams.append(chunk)
        midnight = datetime.combine(s.start, time(), tzinfo=UTC)
        seconds = rng.integers(0, 86_400, n).tolist()
        for created_day, second in zip(created.tolist(), seconds, strict=True):
            moment = midnight + timedelta(days=created_day, seconds=second)
            self._created_at.append(moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    def _draw_feature(self, rng, feature, created, tier, upgrade_day, upgraded_tier) -> dict[str, np.ndarray]:
        n = len(created)
        launch = (feature.launched - self.settings.start).days
        offered = np.isin(tier, feature.tiers)
        offered_after_upgrade = np.isin(upgraded_tier, feature.tiers) & (upgrade_day < NEVER)
        eligible_from = np.where(offered, created, np.where(offered_after_upgrade, upgrade_day, NEVER))
        eligible_tier = np.where(offered, tier, upgraded_tier)
        adopts = (eligible_from < NEVER) & (rng.random(n) < np.asarray(feature.adoption_ceiling)[eligible_tier])
        clock_starts = np.maximum(eligible_from, launch)
        median = np.where(created > launch, feature.median_days_to_adopt / 2, feature.median_days_to_adopt)
        delay = np.ceil(rng.lognormal(np.log(median), feature.spread))
        first_use = np.where(adopts, clock_starts + delay, NEVER).astype(np.int64)
        drops = adopts & (rng.random(n) < 0.18)
        drop_day = np.where(drops, first_use + 14 + np.floor(rng.exponential(90.0, n)), NEVER)
        comes_back = drops & (rng.random(n) < 0.45)
        back_day = np.where(comes_back, drop_day + 7 + np.floor(rng.exponential(45.0, n)), NEVER)
        return {
            f"{feature.key}_first_use": first_use,
            f"{feature.key}_drop": drop_day.astype(np.int64),
            f"{feature.key}_back": back_day.astype(np.int64),
            f"{feature.key}_base": rng.geometric(0.35, n).astype(np.int64),
        }

    # ----------------------------------------------------------------- the state on one day

    def state_on(self, day: date) -> PlatformState:
        """The platform at the end of ``day`` (UTC): admin stats, the team list and per-team feature counts."""
        index = self._day_index(day)
        self._ensure_generated(index)
        t = self._teams
        alive = np.nonzero((t["created_day"] <= index) & (t["churn_day"] > index))[0]

        def col(name: str) -> np.ndarray:
            return t[name][alive]

        created = col("created_day")
        age = index - created
        tier = np.where(index >= col("upgrade_day"), col("upgraded_tier"), col("tier"))
        suspended = (col("suspend_from") <= index) & (index < col("suspend_until"))
        members = np.minimum(col("members_cap"), col("members_base") + age // col("members_every"))

        instances_from = col("instances_from")
        instances = np.where(
            index >= instances_from,
            np.minimum(col("instances_cap"), 1 + (index - instances_from) // col("instances_every")),
            0,
        )
        stopped = np.where(suspended, 0, np.floor(instances * col("stopped_share")).astype(np.int64))
        devices_from = col("devices_from")
        devices = np.where(
            (index >= devices_from) & (index < col("devices_until")),
            np.minimum(col("devices_cap"), 1 + (index - devices_from) // col("devices_every")),
            0,
        )
        developer = np.floor(devices * col("developer_share")).astype(np.int64)

        usage: dict[str, np.ndarray] = {}
        for feature in self.settings.features:
            first = col(f"{feature.key}_first_use")
            using = (first <= index) & ~((col(f"{feature.key}_drop") <= index) & (index < col(f"{feature.key}_back")))
            grown = col(f"{feature.key}_base") + np.maximum(0, index - first) // feature.days_per_extra_unit
            usage[feature.key] = np.where(using, np.minimum(feature.max_units, grown), 0)

        team_rows = self._team_rows(alive, tier, suspended, members, instances, devices, usage, index)
        stats = self._stats(tier, suspended, members, instances, stopped, devices, developer, usage)
        offered = {f.key: np.isin(tier, f.tiers) for f in self.settings.features}
        ids = [row["id"] for row in team_rows]
        return PlatformState(
            day=day,
            stats=stats,
            teams=team_rows,
            pipelines={ids[i]: int(usage["pipelines"][i]) for i in np.nonzero(offered["pipelines"])[0]},
            tables={ids[i]: int(usage["tables"][i]) for i in np.nonzero(offered["tables"])[0]},
        )

    def _team_rows(self, alive, tier, suspended, members, instances, devices, usage, index) -> list[dict]:
        seed = self.settings.seed
        upgrade_day = self._teams["upgrade_day"][alive]
        mqtt = usage["mqtt_clients"]
        rows = []
        for i, team_index in enumerate(alive.tolist()):
            team_id = _team_id(team_index, seed)
            tier_name = TIERS[tier[i]]
            created_at = self._created_at[team_index]
            updated_at = (
                (self.settings.start + timedelta(days=int(upgrade_day[i]))).isoformat() + "T09:00:00.000Z"
                if upgrade_day[i] <= index
                else created_at
            )
            rows.append(
                {
                    "type": {"id": _TYPE_IDS[tier_name], "name": tier_name, "active": True},
                    "properties": {},
                    "instanceCount": int(instances[i]),
                    "memberCount": int(members[i]),
                    "deviceCount": int(devices[i]),
                    "brokerCount": int(mqtt[i] >= 20),
                    "teamBrokerClientsCount": int(mqtt[i]),
                    "createdAt": created_at,
                    "updatedAt": updated_at,
                    "id": team_id,
                    "name": f"Simulated Team {team_index + 1}",
                    "slug": f"simulated-team-{team_index + 1}",
                    "suspended": bool(suspended[i]),
                    "links": {"self": f"/api/v1/teams/{team_id}"},
                }
            )
        return rows

    @staticmethod
    def _stats(tier, suspended, members, instances, stopped, devices, developer, usage) -> dict:
        teams_by_type = np.bincount(tier, minlength=3)
        instance_count = int(instances.sum())
        suspended_instances = int(instances[suspended].sum())
        stopped_instances = int(stopped.sum())
        device_count = int(devices.sum())
        users = int(members.sum()) + len(members) // 20  # plus users who have no team yet
        last_seen = {
            "never": round(device_count * 0.04),
            "week": round(device_count * 0.12),
            "month": round(device_count * 0.06),
            "older": round(device_count * 0.03),
        }
        last_seen = {"never": last_seen["never"], "day": device_count - sum(last_seen.values()), **last_seen}
        mqtt_clients = int(usage["mqtt_clients"].sum())
        return {
            "userCount": users,
            "maxUsers": 1_000_000,
            "adminCount": 3,
            "inviteCount": round(users * 0.02),
            "teamCount": len(tier),
            "maxTeams": 1_000_000,
            "teamsByType": {name: int(teams_by_type[i]) for i, name in enumerate(TIERS)},
            "instanceCount": instance_count,
            "maxInstances": 1_000_000,
            "instancesByState": {
                "running": instance_count - suspended_instances - stopped_instances,
                "stopped": stopped_instances,
                "suspended": suspended_instances,
            },
            "deviceCount": device_count,
            "maxDevices": 1_000_000,
            "devicesByMode": {
                "autonomous": device_count - int(developer.sum()),
                "developer": int(developer.sum()),
            },
            "devicesByLastSeen": last_seen,
            "maxMqttClients": 1_000_000,
            "mqttClientCount": mqtt_clients,
        }


_TYPE_IDS = {name: _team_id(10**9 + i, 0) for i, name in enumerate(TIERS)}
