//! `[alerts]` and its `[[alerts.channel]]` entries (docs/ALERTS.md).

use dashboards::AlertKind;
use serde::Deserialize;

/// `[alerts]`: when alerts are raised and where they are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// A condition that clears and comes back within this many seconds (event
    /// time) continues its alert instead of opening a new one: nobody is paged again.
    pub cooldown_s: u32,
    /// A device whose last status reports a battery below this percentage raises `low_battery`.
    pub low_battery_pct: u8,
    /// `ingest_stalled` when no device message at all arrived for this many seconds (real time).
    pub stalled_after_s: u32,
    /// Seconds before the first retry of a failed delivery; it doubles after each failure.
    pub retry_first_s: f64,
    /// The longest wait between two tries, seconds.
    pub retry_max_s: f64,
    /// A delivery still failing after this many seconds goes to the dead-letter file.
    pub give_up_after_s: u64,
    /// Where the alerts are sent.
    #[serde(rename = "channel")]
    pub channels: Vec<ChannelConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            cooldown_s: 1800,
            low_battery_pct: 20,
            stalled_after_s: 600,
            retry_first_s: 2.0,
            retry_max_s: 300.0,
            give_up_after_s: 86_400,
            channels: Vec::new(),
        }
    }
}

/// What a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A generic JSON webhook (POST).
    Webhook,
    /// A WeCom (企业微信) group robot.
    Wecom,
    /// A DingTalk (钉钉) group robot, signed when `secret` is given.
    Dingtalk,
    /// An MQTT topic, `doorstep/v1/alerts/{site_id}`.
    Mqtt,
}

/// `[[alerts.channel]]`: one destination and what goes to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// A name for logs and the dead-letter file (default `KIND-N`).
    pub name: Option<String>,
    /// What it speaks.
    pub kind: ChannelKind,
    /// The URL to POST to (webhook, WeCom, DingTalk); for MQTT, the broker
    /// (default: the broker doorstep takes device messages from).
    pub url: Option<String>,
    /// DingTalk: the robot's signing secret. Webhook: signs each body
    /// (`X-Doorstep-Signature: sha256=HEX`, HMAC-SHA256).
    pub secret: Option<String>,
    /// Only alerts of these sites (ids); all when empty.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Only alerts of sites in these districts (区); all when empty.
    #[serde(default)]
    pub districts: Vec<String>,
    /// Only these kinds (e.g. `["over_capacity", "device_offline"]`); all when empty.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// `"HH:MM-HH:MM"` in the site's time: alerts raised then wait until it ends
    /// (and are dropped if they ended meanwhile).
    pub quiet_hours: Option<String>,
    /// Also send a message when an alert ends.
    #[serde(default)]
    pub send_resolved: bool,
    /// Overrides `[alerts] give_up_after_s` for this channel.
    pub give_up_after_s: Option<u64>,
}

/// Quiet hours: minutes of the day from `start` (inclusive) to `end` (exclusive), across midnight when `end <= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiet {
    /// Start, minutes after midnight.
    pub start: u32,
    /// End, minutes after midnight.
    pub end: u32,
}

impl Quiet {
    /// Parses `"22:00-07:00"`.
    pub fn parse(text: &str) -> Option<Quiet> {
        let (a, b) = text.trim().split_once('-')?;
        let minutes = |t: &str| {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
        };
        let q = Quiet {
            start: minutes(a)?,
            end: minutes(b)?,
        };
        (q.start != q.end).then_some(q)
    }

    /// Minutes until quiet hours end, when `minute` (of the day) is inside them.
    pub fn remaining(self, minute: u32) -> Option<u32> {
        let inside = if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        };
        inside.then(|| (self.end + 1440 - minute) % 1440)
    }
}

impl AlertsConfig {
    /// Checks every channel against the registry; the error names the channel and what is wrong.
    pub fn check(&self, registry: &devices::Registry) -> Result<(), String> {
        for (i, c) in self.channels.iter().enumerate() {
            let name = c.name(i);
            let fail = |what: String| Err(format!("[[alerts.channel]] {name}: {what}"));
            match (c.kind, &c.url) {
                (ChannelKind::Mqtt, _) => {}
                (_, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {}
                (_, Some(url)) => return fail(format!("url {url:?} is not http:// or https://")),
                (_, None) => return fail("needs a url".into()),
            }
            if let Some(k) = c.kinds.iter().find(|k| AlertKind::parse(k).is_none()) {
                let all: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                return fail(format!("kind {k:?} is unknown (kinds: {})", all.join(", ")));
            }
            if let Some(s) = c
                .sites
                .iter()
                .find(|s| !registry.sites.iter().any(|x| x.id == **s))
            {
                return fail(format!("site {s:?} is not in the registry"));
            }
            if let Some(q) = &c.quiet_hours
                && Quiet::parse(q).is_none()
            {
                return fail(format!("quiet_hours {q:?} is not HH:MM-HH:MM"));
            }
        }
        let mut names: Vec<String> = (0..self.channels.len())
            .map(|i| self.channels[i].name(i))
            .collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("[[alerts.channel]] name {:?} is used twice", w[0]));
        }
        Ok(())
    }
}

impl ChannelConfig {
    /// Its name, or `KIND-N` for the `i`th channel.
    pub fn name(&self, i: usize) -> String {
        self.name.clone().unwrap_or_else(|| {
            let kind = match self.kind {
                ChannelKind::Webhook => "webhook",
                ChannelKind::Wecom => "wecom",
                ChannelKind::Dingtalk => "dingtalk",
                ChannelKind::Mqtt => "mqtt",
            };
            format!("{kind}-{}", i + 1)
        })
    }

    /// Whether an alert of `kind` at a site (`site_id`, `district`) goes to this channel.
    pub fn routes(&self, kind: AlertKind, site_id: &str, district: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind.as_str()))
            && (self.sites.is_empty() || self.sites.iter().any(|s| s == site_id))
            && (self.districts.is_empty() || self.districts.iter().any(|d| d == district))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_across_midnight_and_within_a_day() {
        let night = Quiet::parse("22:00-07:00").expect("night");
        assert_eq!(night.remaining(23 * 60), Some(8 * 60));
        assert_eq!(night.remaining(6 * 60 + 30), Some(30));
        assert_eq!(night.remaining(7 * 60), None);
        assert_eq!(night.remaining(12 * 60), None);
        let noon = Quiet::parse("12:00-13:30").expect("noon");
        assert_eq!(noon.remaining(12 * 60 + 15), Some(75));
        assert_eq!(noon.remaining(13 * 60 + 30), None);
        for bad in ["", "22:00", "25:00-07:00", "07:00-07:00", "7-8"] {
            assert_eq!(Quiet::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn routing_by_kind_site_and_district() {
        let c: ChannelConfig = toml::from_str(
            "kind = \"wecom\"\nurl = \"http://x\"\ndistricts = [\"武侯区\"]\nkinds = [\"over_capacity\"]",
        )
        .expect("channel");
        assert!(c.routes(AlertKind::OverCapacity, "a", "武侯区"));
        assert!(!c.routes(AlertKind::OverCapacity, "a", "锦江区"));
        assert!(!c.routes(AlertKind::LowBattery, "a", "武侯区"));
        assert_eq!(c.name(2), "wecom-3");
    }
}
