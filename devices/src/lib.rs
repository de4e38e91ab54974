//! The doorstep domain: sites, rooms with time-shared schedules, devices, the
//! registry file, the device message codec, and a simulated fleet.
//!
//! Every other stage speaks in the types defined here: a [`Reading`] is a
//! validated device message bound to its room, a [`RoomWindow`] is the sum of
//! one room over one window, a [`LiveRoom`] is a room's live occupancy.
//!
//! ```
//! use devices::{Registry, Validator, Limits, Value};
//! use std::{path::Path, sync::Arc};
//!
//! let registry = Registry::from_toml(r#"
//!     [[site]]
//!     id = "s1"
//!     name = "示例社区"
//!     [[site.room]]
//!     id = "hall"
//!     name = "多功能厅"
//!     capacity = 30
//!     area_m2 = 80
//!     schedule = ["mon-fri 09:00-17:00 culture"]
//!     [[site.device]]
//!     id = "hall-counter"
//!     room = "hall"
//!     kind = "count"
//! "#, Path::new("example.toml")).unwrap();
//! let validator = Validator::new(Arc::new(registry), Limits::default());
//! let reading = validator
//!     .check("doorstep/v1/s1/hall-counter", br#"{"type":"count","count":4}"#, 1_795_396_500_000)
//!     .unwrap();
//! assert_eq!(reading.value, Value::Count(4));
//! ```

pub mod calendar;
pub mod category;
pub mod clock;
pub mod codec;
pub mod current;
pub mod lookback;
pub mod milesight;
pub mod model;
pub mod reading;
pub mod reason;
pub mod registry;
pub mod registry_csv;
pub mod registry_diff;
pub mod schedule;
pub mod sim;
pub mod tables;
pub mod timeline;
pub mod validate;
pub mod vs121;

pub use calendar::Calendar;
pub use category::Category;
pub use clock::Clock;
pub use current::Current;
pub use lookback::{LookbackDay, LookbackHour};
pub use model::{
    Codec, DEFAULT_MAX_PER_MINUTE, Device, DeviceIdx, DeviceKind, Direction, Registry, Room,
    RoomIdx, Sensors, Site, SiteIdx,
};
pub use reading::{
    LiveRoom, MessageKey, Reading, RoomWindow, Status, Value, VisitsMethod, WindowKind,
};
pub use reason::Reason;
pub use registry::{RegistryError, RegistryFile};
pub use registry_csv::registry_from_csv;
pub use schedule::{OpenSpan, Opening, Schedule};
pub use sim::{Fleet, Publish};
pub use tables::{DeviceDay, Flag, FlagKind, IdleSlot, SiteDay};
pub use validate::{Limits, Rejection, Validator};
