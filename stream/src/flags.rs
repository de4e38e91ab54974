//! The daily flags of one room over its lookback (METRICS.md "Flags").

use devices::{Category, Flag, FlagKind, LookbackDay, Registry, RoomIdx, RoomWindow};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Thresholds of the flags (`[stream.flags]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagConfig {
    /// Days the flags look back over (L).
    pub lookback_days: u16,
    /// Consecutive open days with no use that make a room IDLE (D).
    pub idle_days: u16,
    /// Coverage under which a room is LOW_COVERAGE and never idle or underused.
    pub min_coverage: f64,
    /// Time utilization under which a room is UNDERUSED.
    pub underused_below: f64,
    /// Seconds over capacity in a day that make a room OVERCROWDED.
    pub overcrowded_seconds: u32,
    /// Occupied seconds outside opening hours in a day that raise AFTER_HOURS_USE.
    pub after_hours_seconds: u32,
    /// A weekday-hour cell is idle below this time utilization (idle slots).
    pub idle_slot_below: f64,
    /// Contiguous idle hours that make an idle slot.
    pub idle_slot_min_hours: u8,
    /// DOOR_DRIFT: a day drifts when its door residual exceeds this many people ...
    pub door_drift_min: u32,
    /// ... or this share of the capacity, whichever is more.
    pub door_drift_share: f64,
    /// Drifting days in the lookback that raise DOOR_DRIFT.
    pub door_drift_days: u16,
    /// Thresholds for rooms whose main service (most weekly opening time) is a
    /// category: `[stream.flags.category.meal_aid]`.
    pub category: BTreeMap<Category, FlagOverrides>,
    /// Thresholds for the rooms of a site, `[stream.flags.site.SITE_ID]`; they win
    /// over the category ones.
    pub site: BTreeMap<String, FlagOverrides>,
}

/// Thresholds that replace the defaults for some rooms; a missing one keeps the default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagOverrides {
    /// See [`FlagConfig::lookback_days`].
    pub lookback_days: Option<u16>,
    /// See [`FlagConfig::idle_days`].
    pub idle_days: Option<u16>,
    /// See [`FlagConfig::min_coverage`].
    pub min_coverage: Option<f64>,
    /// See [`FlagConfig::underused_below`].
    pub underused_below: Option<f64>,
    /// See [`FlagConfig::overcrowded_seconds`].
    pub overcrowded_seconds: Option<u32>,
    /// See [`FlagConfig::after_hours_seconds`].
    pub after_hours_seconds: Option<u32>,
    /// See [`FlagConfig::idle_slot_below`].
    pub idle_slot_below: Option<f64>,
    /// See [`FlagConfig::idle_slot_min_hours`].
    pub idle_slot_min_hours: Option<u8>,
    /// See [`FlagConfig::door_drift_min`].
    pub door_drift_min: Option<u32>,
    /// See [`FlagConfig::door_drift_share`].
    pub door_drift_share: Option<f64>,
    /// See [`FlagConfig::door_drift_days`].
    pub door_drift_days: Option<u16>,
}

impl FlagConfig {
    fn apply(&mut self, o: &FlagOverrides) {
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = o.$f { self.$f = v; } )* };
        }
        take!(
            lookback_days,
            idle_days,
            min_coverage,
            underused_below,
            overcrowded_seconds,
            after_hours_seconds,
            idle_slot_below,
            idle_slot_min_hours,
            door_drift_min,
            door_drift_share,
            door_drift_days
        );
    }

    /// The thresholds for `room`: defaults, then its main category's, then its site's.
    pub fn for_room(&self, registry: &Registry, room: RoomIdx) -> FlagConfig {
        let mut c = FlagConfig {
            category: BTreeMap::new(),
            site: BTreeMap::new(),
            ..self.clone()
        };
        let r = registry.room(room);
        if let Some(o) = main_category(&r.schedule).and_then(|cat| self.category.get(&cat)) {
            c.apply(o);
        }
        if let Some(o) = self.site.get(&registry.site(r.site).id) {
            c.apply(o);
        }
        c
    }
}

/// The category with the most weekly opening time (ties: the first in METRICS.md order).
pub fn main_category(schedule: &devices::Schedule) -> Option<Category> {
    let mut time: BTreeMap<Category, u64> = BTreeMap::new();
    for o in &schedule.openings {
        let days = (0..7u8)
            .filter(|d| chrono::Weekday::try_from(*d).is_ok_and(|wd| o.days.contains(wd)))
            .count() as u64;
        *time.entry(o.category).or_default() += u64::from(o.end - o.start) * days;
    }
    time.iter()
        .max_by_key(|(c, t)| (**t, std::cmp::Reverse(**c)))
        .map(|(c, _)| *c)
}

impl Default for FlagConfig {
    fn default() -> Self {
        FlagConfig {
            lookback_days: 28,
            idle_days: 7,
            min_coverage: 0.8,
            underused_below: 0.25,
            overcrowded_seconds: 900,
            after_hours_seconds: 3600,
            idle_slot_below: 0.05,
            idle_slot_min_hours: 2,
            door_drift_min: 2,
            door_drift_share: 0.1,
            door_drift_days: 3,
            category: BTreeMap::new(),
            site: BTreeMap::new(),
        }
    }
}

/// What the flags need of one day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DayFacts {
    start: i64,
    open: u64,
    measured: u64,
    occupied: u64,
    over_capacity: Option<u32>,
    after_hours: u32,
    /// Door rooms: the people the counters say never left.
    #[serde(default)]
    door_residual: Option<u32>,
    /// Per device of the room: offline seconds in opening time, lowest battery.
    devices: Vec<(u32, Option<u8>)>,
}

impl DayFacts {
    /// The facts of a day as the tables store it.
    pub(crate) fn of_stored(stored: &LookbackDay) -> DayFacts {
        DayFacts {
            start: stored.start,
            open: stored.open_seconds.into(),
            measured: stored.measured_seconds.into(),
            occupied: stored.occupied_seconds.into(),
            over_capacity: stored.over_capacity_seconds,
            after_hours: stored.after_hours_occupied_seconds,
            door_residual: stored.door_residual,
            devices: stored.devices.clone(),
        }
    }
}

/// What a room's day means for its site's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDayStatus {
    /// The room.
    pub room: RoomIdx,
    /// Day start, Unix seconds.
    pub day: i64,
    /// Coverage over the lookback is at least the minimum.
    pub covered: bool,
    /// Flagged UNDERUSED or IDLE.
    pub underused: bool,
    /// The revision of the room's day.
    pub revision: u16,
}

/// The lookback of one room. Days are shared: the correction path's snapshots
/// of the room copy the deque, not the 28 days.
#[derive(Debug, Clone, Default)]
pub struct RoomFlags {
    days: VecDeque<std::sync::Arc<DayFacts>>,
    /// Ids of the room's devices, for the reasons.
    device_ids: Vec<String>,
    /// The site's timezone, for the dates in the reasons.
    tz: Option<chrono_tz::Tz>,
}

/// The local date of `t` (MM-DD) for a reason.
fn local_date(tz: Option<chrono_tz::Tz>, t: i64) -> String {
    let tz = tz.unwrap_or(chrono_tz::UTC);
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&tz).format("%m-%d").to_string())
        .unwrap_or_default()
}

/// Battery level under which a device is reported as low.
const LOW_BATTERY_PCT: u8 = 20;

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

impl RoomFlags {
    /// The flags of a room with these devices.
    pub fn new(device_ids: Vec<String>, tz: chrono_tz::Tz) -> RoomFlags {
        RoomFlags {
            days: VecDeque::new(),
            device_ids,
            tz: Some(tz),
        }
    }

    /// How many devices of the room it knows.
    pub fn devices(&self) -> usize {
        self.device_ids.len()
    }

    /// One more device of the room (bound to it by a later registry version).
    pub fn add_device(&mut self, id: String) {
        self.device_ids.push(id);
    }

    /// The lookback days, as indices into `pool` (for a checkpoint).
    pub(crate) fn days_into(&self, pool: &mut crate::checkpoint::Pool<DayFacts>) -> Vec<u32> {
        self.days.iter().map(|d| pool.put(d)).collect()
    }

    /// Puts back the lookback days of a checkpoint.
    pub(crate) fn set_days(&mut self, days: Vec<std::sync::Arc<DayFacts>>) {
        self.days = days.into();
    }

    /// What the devices say about missing data over the lookback, in English and Chinese.
    fn device_reasons(&self) -> (String, String) {
        let (mut en, mut zh) = (Vec::new(), Vec::new());
        for (i, id) in self.device_ids.iter().enumerate() {
            let open: u64 = self.days.iter().map(|d| d.open).sum();
            let offline: u64 = self
                .days
                .iter()
                .filter_map(|d| d.devices.get(i))
                .map(|x| u64::from(x.0))
                .sum();
            let battery = self.days.iter().filter_map(|d| d.devices.get(i)?.1).min();
            let mut parts = (Vec::new(), Vec::new());
            if open > 0 && offline * 5 >= open {
                let share = pct(offline as f64 / open as f64);
                parts.0.push(format!("offline {share} of opening time"));
                parts.1.push(format!("开放时间内离线{share}"));
            }
            if let Some(b) = battery.filter(|b| *b < LOW_BATTERY_PCT) {
                parts.0.push(format!("battery {b}%"));
                parts.1.push(format!("电量{b}%"));
            }
            if !parts.0.is_empty() {
                en.push(format!("{id} {}", parts.0.join(", ")));
                zh.push(format!("{id}{}", parts.1.join("，")));
            }
        }
        if en.is_empty() {
            return (String::new(), String::new());
        }
        (
            format!("; devices: {}", en.join("; ")),
            format!("；设备：{}", zh.join("；")),
        )
    }

    /// Adds the day row `day` (with its devices' days) and evaluates the flags over the lookback ending with it.
    pub fn on_day(
        &mut self,
        cfg: &FlagConfig,
        day: &RoomWindow,
        devices: &[devices::DeviceDay],
    ) -> (Vec<Flag>, RoomDayStatus) {
        let facts = DayFacts {
            start: day.start,
            open: day.open_seconds.into(),
            measured: day.measured_seconds.into(),
            occupied: day.occupied_seconds.into(),
            over_capacity: day.over_capacity(),
            after_hours: day.after_hours_occupied_seconds,
            door_residual: day.door_residual,
            devices: devices
                .iter()
                .map(|d| (d.offline_seconds, d.min_battery_pct))
                .collect(),
        };
        self.push(cfg, std::sync::Arc::new(facts));
        self.evaluate(cfg, day)
    }

    /// As [`on_day`](Self::on_day), with the facts of the day as stored (the stream
    /// closed it from part of its readings after a restart; the tables have it whole).
    pub(crate) fn on_stored_day(
        &mut self,
        cfg: &FlagConfig,
        day: &RoomWindow,
        stored: &std::sync::Arc<DayFacts>,
    ) -> (Vec<Flag>, RoomDayStatus) {
        self.remember(cfg, stored);
        self.evaluate(cfg, day)
    }

    /// Adds a stored day to the lookback without evaluating it (seeding after a restart).
    pub(crate) fn remember(&mut self, cfg: &FlagConfig, stored: &std::sync::Arc<DayFacts>) {
        self.push(cfg, std::sync::Arc::clone(stored));
    }

    fn push(&mut self, cfg: &FlagConfig, facts: std::sync::Arc<DayFacts>) {
        self.days.push_back(facts);
        while self.days.len() > usize::from(cfg.lookback_days.max(1)) {
            self.days.pop_front();
        }
    }

    /// The flags over the lookback ending with `day`.
    fn evaluate(&self, cfg: &FlagConfig, day: &RoomWindow) -> (Vec<Flag>, RoomDayStatus) {
        let n = self.days.len() as u16;
        let open: u64 = self.days.iter().map(|d| d.open).sum();
        let measured: u64 = self.days.iter().map(|d| d.measured).sum();
        let occupied: u64 = self.days.iter().map(|d| d.occupied).sum();
        let coverage = (open > 0).then(|| measured as f64 / open as f64);
        let utilization = (measured > 0).then(|| occupied as f64 / measured as f64);
        let covered = coverage.is_some_and(|c| c >= cfg.min_coverage);
        let flag = |kind, reason_en: String, reason_zh: String| Flag {
            room: day.room,
            day: day.start,
            kind,
            lookback_days: n,
            coverage,
            time_utilization: utilization,
            idle_days: None,
            worst_seconds: None,
            worst_day: None,
            reason_en,
            reason_zh,
            revision: 0,
        };
        let mut flags = Vec::new();
        if let Some(c) = coverage.filter(|c| *c < cfg.min_coverage) {
            let (why_en, why_zh) = self.device_reasons();
            flags.push(flag(
                FlagKind::LowCoverage,
                format!(
                    "devices measured {} of the opening time over the last {n} days (needs {}); missing data is not counted as idle{why_en}",
                    pct(c),
                    pct(cfg.min_coverage)
                ),
                format!(
                    "近{n}天开放时间中仅{}有设备数据（要求{}），数据缺失不计为闲置{why_zh}",
                    pct(c),
                    pct(cfg.min_coverage)
                ),
            ));
        }
        let mut underused = false;
        if covered {
            let idle_run = self
                .days
                .iter()
                .rev()
                .filter(|d| d.open > 0)
                .take_while(|d| d.occupied == 0)
                .count();
            let open_days = self.days.iter().filter(|d| d.open > 0).count();
            let d = usize::from(cfg.idle_days);
            if d > 0 && idle_run >= d && open_days >= d {
                underused = true;
                let mut f = flag(
                    FlagKind::Idle,
                    format!("nobody used it on any of the last {idle_run} open days"),
                    format!("最近{idle_run}个开放日无人使用（建而不用）"),
                );
                f.idle_days = Some(idle_run as u16);
                flags.push(f);
            }
            if let Some(u) = utilization.filter(|u| *u < cfg.underused_below) {
                underused = true;
                flags.push(flag(
                    FlagKind::Underused,
                    format!(
                        "used {} of its measured opening time over the last {n} days (below {})",
                        pct(u),
                        pct(cfg.underused_below)
                    ),
                    format!(
                        "近{n}天开放时间使用率{}，低于{}",
                        pct(u),
                        pct(cfg.underused_below)
                    ),
                ));
            }
        }
        // DOOR_DRIFT: door counters whose residuals say people never left.
        let share = day
            .capacity
            .map_or(0.0, |c| (f64::from(c) * cfg.door_drift_share).floor());
        let drift_above = (share as u32).max(cfg.door_drift_min);
        let drifting: Vec<(i64, u32)> = self
            .days
            .iter()
            .filter_map(|d| Some((d.start, d.door_residual?)))
            .filter(|(_, r)| *r > drift_above)
            .collect();
        let drift = cfg.door_drift_days > 0 && drifting.len() >= usize::from(cfg.door_drift_days);
        if drift {
            let days_en: Vec<String> = drifting
                .iter()
                .map(|(t, r)| format!("{} ({r})", local_date(self.tz, *t)))
                .collect();
            let days_zh: Vec<String> = drifting
                .iter()
                .map(|(t, r)| format!("{}（{r}人）", local_date(self.tz, *t)))
                .collect();
            let mut f = flag(
                FlagKind::DoorDrift,
                format!(
                    "the door counters do not balance: more than {drift_above} people never left on {} of the last {n} days: {}; occupancy from them is unreliable and over-capacity time on those days raises no OVERCROWDED",
                    drifting.len(),
                    days_en.join(", ")
                ),
                format!(
                    "门禁计数不平衡：近{n}天中有{}天关门后仍有超过{drift_above}人未离开：{}；据此算出的在场人数不可靠，这些天的超员不计入OVERCROWDED",
                    drifting.len(),
                    days_zh.join("，")
                ),
            );
            let worst = drifting.iter().max_by_key(|(t, r)| (*r, -t));
            f.worst_day = worst.map(|(t, _)| *t);
            flags.push(f);
        }
        let counts_for_overcrowding =
            |d: &DayFacts| !(drift && d.door_residual.is_some_and(|r| r > drift_above));
        let worst = |f: fn(&DayFacts) -> u32| {
            self.days
                .iter()
                .map(|d| (f(d), d.start))
                .max_by_key(|(s, t)| (*s, -t))
        };
        let worst_crowding = self
            .days
            .iter()
            .filter(|d| counts_for_overcrowding(d))
            .map(|d| (d.over_capacity.unwrap_or(0), d.start))
            .max_by_key(|(s, t)| (*s, -t));
        if let Some((s, t)) = worst_crowding.filter(|(s, _)| *s >= cfg.overcrowded_seconds) {
            let mut f = flag(
                FlagKind::Overcrowded,
                format!(
                    "over capacity for {} min on one day of the last {n} days",
                    s / 60
                ),
                format!("近{n}天内有一天超员{}分钟", s / 60),
            );
            (f.worst_seconds, f.worst_day) = (Some(s), Some(t));
            flags.push(f);
        }
        if let Some((s, t)) =
            worst(|d| d.after_hours).filter(|(s, _)| *s >= cfg.after_hours_seconds)
        {
            let mut f = flag(
                FlagKind::AfterHoursUse,
                format!(
                    "used for {} min outside opening hours on one day of the last {n} days",
                    s / 60
                ),
                format!("近{n}天内有一天在开放时间外使用{}分钟", s / 60),
            );
            (f.worst_seconds, f.worst_day) = (Some(s), Some(t));
            flags.push(f);
        }
        let status = RoomDayStatus {
            room: day.room,
            day: day.start,
            covered,
            underused,
            revision: 0,
        };
        (flags, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn thresholds_by_main_category_then_site() {
        let reg = Registry::from_toml(
            r#"
            [[site]]
            id = "a"
            name = "甲社区"
            [[site.room]]
            id = "shared"
            name = "共享厅"
            capacity = 30
            area_m2 = 100
            # 5 x 3 h of infant care against 7 x 2 h of elderly care: infant care is the main one.
            schedule = ["mon-fri 08:00-11:00 infant_care", "daily 14:00-16:00 elderly_care"]
            [[site]]
            id = "b"
            name = "乙社区"
            [[site.room]]
            id = "canteen"
            name = "食堂"
            capacity = 40
            area_m2 = 135
            schedule = ["daily 11:00-13:00 infant_care"]
            "#,
            Path::new("t.toml"),
        )
        .expect("registry");
        assert_eq!(
            main_category(&reg.rooms[0].schedule),
            Some(Category::InfantCare)
        );
        let config: FlagConfig = toml::from_str(
            r#"
            underused_below = 0.3
            [category.infant_care]
            underused_below = 0.1
            idle_days = 5
            [site.b]
            underused_below = 0.2
            "#,
        )
        .expect("config");
        let a = config.for_room(&reg, RoomIdx(0));
        assert_eq!(
            (a.underused_below, a.idle_days, a.lookback_days),
            (0.1, 5, 28)
        );
        let b = config.for_room(&reg, RoomIdx(1));
        assert_eq!(
            (b.underused_below, b.idle_days),
            (0.2, 5),
            "the site wins over the category"
        );
        assert!(toml::from_str::<FlagConfig>("[site.b]\nunderused = 0.2").is_err());
    }
}
