//! Why a device message was rejected: the reason codes shared by the codecs
//! (DEVICES.md) and the validator, stored in `quarantine`.

use serde::{Deserialize, Serialize};

/// Why a message was rejected; stored in `quarantine` as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Topic is not `doorstep/v1/{site_id}/{device_id}`.
    BadTopic,
    /// Payload over 4 KiB.
    Oversize,
    /// Payload is not UTF-8.
    InvalidUtf8,
    /// Payload is not JSON.
    MalformedJson,
    /// A field has the wrong type.
    WrongType,
    /// A required field is missing.
    MissingField,
    /// `type` is not one of the known kinds.
    UnknownType,
    /// A count below zero.
    NegativeCount,
    /// A count far beyond the room's capacity.
    AbsurdCount,
    /// `ts` cannot be read.
    BadTimestamp,
    /// `ts` more than a day ahead of the receive time.
    FutureTimestamp,
    /// `ts` older than `max_age`.
    TooOld,
    /// The device is not in the registry.
    UnknownDevice,
    /// The topic names another site than the registry.
    SiteMismatch,
    /// The device sends far more often than its report interval (kept, not counted).
    Flooding,
}

impl Reason {
    /// Every reason, for counters.
    pub const ALL: [Reason; 15] = [
        Reason::BadTopic,
        Reason::Oversize,
        Reason::InvalidUtf8,
        Reason::MalformedJson,
        Reason::WrongType,
        Reason::MissingField,
        Reason::UnknownType,
        Reason::NegativeCount,
        Reason::AbsurdCount,
        Reason::BadTimestamp,
        Reason::FutureTimestamp,
        Reason::TooOld,
        Reason::UnknownDevice,
        Reason::SiteMismatch,
        Reason::Flooding,
    ];

    /// What it means, in Chinese for the pages.
    pub fn zh(self) -> &'static str {
        match self {
            Reason::BadTopic => "主题格式不对",
            Reason::Oversize => "消息过大",
            Reason::InvalidUtf8 => "不是 UTF-8 文本",
            Reason::MalformedJson => "不是有效的 JSON",
            Reason::WrongType => "字段类型不对",
            Reason::MissingField => "缺少字段",
            Reason::UnknownType => "未知的消息类型",
            Reason::NegativeCount => "人数为负",
            Reason::AbsurdCount => "人数远超容量",
            Reason::BadTimestamp => "时间戳无法读取",
            Reason::FutureTimestamp => "时间戳在未来",
            Reason::TooOld => "时间戳过旧",
            Reason::UnknownDevice => "设备未登记",
            Reason::SiteMismatch => "社区与登记不符",
            Reason::Flooding => "发送过于频繁",
        }
    }

    /// What it means, in English for the pages.
    pub fn en(self) -> &'static str {
        match self {
            Reason::BadTopic => "bad topic",
            Reason::Oversize => "too large",
            Reason::InvalidUtf8 => "not UTF-8",
            Reason::MalformedJson => "not JSON",
            Reason::WrongType => "wrong field type",
            Reason::MissingField => "missing field",
            Reason::UnknownType => "unknown message type",
            Reason::NegativeCount => "negative count",
            Reason::AbsurdCount => "count far over capacity",
            Reason::BadTimestamp => "unreadable timestamp",
            Reason::FutureTimestamp => "timestamp in the future",
            Reason::TooOld => "timestamp too old",
            Reason::UnknownDevice => "device not registered",
            Reason::SiteMismatch => "site differs from the registry",
            Reason::Flooding => "sends too often",
        }
    }

    /// The reason with this code.
    pub fn parse(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == code)
    }

    /// The reason code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadTopic => "bad_topic",
            Reason::Oversize => "oversize",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::MalformedJson => "malformed_json",
            Reason::WrongType => "wrong_type",
            Reason::MissingField => "missing_field",
            Reason::UnknownType => "unknown_type",
            Reason::NegativeCount => "negative_count",
            Reason::AbsurdCount => "absurd_count",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::FutureTimestamp => "future_timestamp",
            Reason::TooOld => "too_old",
            Reason::UnknownDevice => "unknown_device",
            Reason::SiteMismatch => "site_mismatch",
            Reason::Flooding => "flooding",
        }
    }
}
