//! The topics doorstep takes in and those it publishes itself.

/// The topics whose messages the door takes in itself (`doorstep/v1/...`);
/// others allowed by the ACL go on to the broker.
pub const DEVICE_PREFIX: &str = "doorstep/v1/";

/// Where doorstep publishes its alerts (`doorstep/v1/alerts/{site_id}`): under
/// [`DEVICE_PREFIX`], but not device messages; they go on to the broker's subscribers.
pub const ALERTS_PREFIX: &str = "doorstep/v1/alerts/";

/// Whether a message on `topic` is a device's (taken in), not doorstep's own alerts.
pub fn is_device_topic(topic: &str) -> bool {
    topic.starts_with(DEVICE_PREFIX) && !topic.starts_with(ALERTS_PREFIX)
}
