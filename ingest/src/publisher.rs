//! A publisher for simulated devices (`doorstep simulate`, the demo).

use crate::{BrokerUrl, Error, Session};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use std::time::Duration;

/// An MQTT client that publishes device messages with QoS 1.
pub struct Publisher {
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Connects to `url` as `client_id`; fails if the broker cannot be reached.
    pub async fn connect(url: &BrokerUrl, session: &Session) -> Result<Publisher, Error> {
        let mut options = session.options(url);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_inflight(200);
        let (client, mut events) = AsyncClient::new(options, 1024);
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {}
            Ok(Ok(other)) => {
                return Err(Error::Unreachable {
                    url: url.to_string(),
                    cause: format!("unexpected first packet {other:?}"),
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Unreachable {
                    url: url.to_string(),
                    cause: e.to_string(),
                });
            }
            Err(_) => {
                return Err(Error::Unreachable {
                    url: url.to_string(),
                    cause: "no answer within 10 s".into(),
                });
            }
        }
        let url = url.clone();
        // The event loop runs in its own task; publishing never happens from it (rumqttc #1025).
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match events.poll().await {
                    Ok(_) => backoff = Duration::from_millis(100),
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(e) => {
                        tracing::warn!(broker = %url, error = %e, "publisher lost the broker; reconnecting");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        });
        Ok(Publisher { client, task })
    }

    /// Publishes one message with QoS 1 (waits while the client's queue is full).
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), Error> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::Client(e.to_string()))
    }

    /// Disconnects after the queued messages are sent.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
