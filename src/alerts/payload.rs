//! What each channel is sent: a generic JSON document, or the message shapes
//! of the WeCom and DingTalk group robots (markdown).

use dashboards::{Alert, ChangeKind};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The generic document (webhook body and MQTT payload).
pub fn document(event: ChangeKind, alert: &Alert) -> Value {
    json!({
        "source": "doorstep",
        "version": 1,
        "event": event.as_str(),
        "alert": alert,
    })
}

/// The alert in a few lines of markdown, in Chinese (what group robots show).
pub fn markdown_zh(event: ChangeKind, alert: &Alert, tz: chrono_tz::Tz) -> (String, String) {
    let local = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    let head = match event {
        ChangeKind::Ended => "已恢复",
        _ => "告警",
    };
    let title = format!("【{head}】{}", alert.kind.zh());
    let mut text = format!("### {title}\n");
    if !alert.site_name.is_empty() {
        text += &format!("> 站点：{}\n\n", alert.site_name);
    }
    if !alert.room_name.is_empty() {
        text += &format!("> 房间：{}\n\n", alert.room_name);
    }
    text += &format!(
        "> 情况：{}\n\n> 开始：{}\n",
        alert.detail_zh,
        local(alert.since_ms)
    );
    if let Some(end) = alert.ended_ms {
        text += &format!("\n> 结束：{}\n", local(end));
    }
    text += &format!("\n告警编号 {}（doorstep）", alert.id);
    (title, text)
}

/// A WeCom group robot message (`msgtype` markdown).
pub fn wecom(event: ChangeKind, alert: &Alert, tz: chrono_tz::Tz) -> Value {
    let (_, text) = markdown_zh(event, alert, tz);
    json!({ "msgtype": "markdown", "markdown": { "content": text } })
}

/// A DingTalk group robot message (`msgtype` markdown).
pub fn dingtalk(event: ChangeKind, alert: &Alert, tz: chrono_tz::Tz) -> Value {
    let (title, text) = markdown_zh(event, alert, tz);
    json!({ "msgtype": "markdown", "markdown": { "title": title, "text": text } })
}

/// HMAC-SHA256 of `data` under `key`.
fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The URL of a signed DingTalk robot call: `&timestamp=MS&sign=S`, where S is
/// the URL-encoded base64 of HMAC-SHA256 over `"{timestamp}\n{secret}"` keyed by the secret.
pub fn dingtalk_signed_url(url: &str, secret: &str, timestamp_ms: i64) -> String {
    use base64::Engine;
    let to_sign = format!("{timestamp_ms}\n{secret}");
    let sign = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), to_sign.as_bytes()));
    let sign: String = url::form_urlencoded::byte_serialize(sign.as_bytes()).collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}timestamp={timestamp_ms}&sign={sign}")
}

/// `sha256=HEX` of the body under the webhook's secret (header `X-Doorstep-Signature`).
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), body);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether a robot's answer says it took the message (`errcode` 0).
pub fn robot_accepted(body: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(body).map_err(|_| format!("not JSON: {body:.200}"))?;
    match v.get("errcode").and_then(Value::as_i64) {
        Some(0) => Ok(()),
        Some(code) => Err(format!(
            "errcode {code}: {}",
            v.get("errmsg").and_then(Value::as_str).unwrap_or_default()
        )),
        None => Err(format!("no errcode in {body:.200}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dashboards::AlertKind;

    fn alert() -> Alert {
        Alert {
            id: 7,
            kind: AlertKind::OverCapacity,
            site_id: "s1".into(),
            site_name: "玉林社区".into(),
            room_id: "hall".into(),
            room_name: "多功能厅".into(),
            device_id: None,
            since: "2026-11-23T01:50:00Z".into(),
            since_ms: 1_795_398_600_000,
            ended: None,
            ended_ms: None,
            detail_zh: "12 人，容量 10 人".into(),
            detail_en: "12 people, capacity 10".into(),
            acked_by: None,
            acked_at: None,
            reopened: 0,
        }
    }

    #[test]
    fn robot_messages_have_the_documented_shapes() {
        let tz = chrono_tz::Asia::Shanghai;
        let w = wecom(ChangeKind::Opened, &alert(), tz);
        assert_eq!(w["msgtype"], "markdown");
        let content = w["markdown"]["content"].as_str().expect("content");
        assert!(content.starts_with("### 【告警】超员\n"), "{content}");
        assert!(content.contains("> 站点：玉林社区"), "{content}");
        assert!(content.contains("> 开始：2026-11-23 09:50"), "{content}");
        let d = dingtalk(ChangeKind::Ended, &alert(), tz);
        assert_eq!(d["msgtype"], "markdown");
        assert_eq!(d["markdown"]["title"], "【已恢复】超员");
        assert!(
            d["markdown"]["text"]
                .as_str()
                .expect("text")
                .contains("多功能厅")
        );
        assert_eq!(document(ChangeKind::Opened, &alert())["alert"]["id"], 7);
    }

    #[test]
    fn dingtalk_signature_follows_its_documentation() {
        // The documented algorithm, computed independently with Python's hmac:
        // base64(hmac_sha256(b"SECabc", b"1700000000000\nSECabc")).
        let url = dingtalk_signed_url(
            "https://oapi.dingtalk.com/robot/send?access_token=t",
            "SECabc",
            1_700_000_000_000,
        );
        assert_eq!(
            url,
            "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign=jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D"
        );
        assert_eq!(robot_accepted(r#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
        assert!(robot_accepted(r#"{"errcode":310000,"errmsg":"sign not match"}"#).is_err());
        assert!(robot_accepted("<html>").is_err());
        assert_eq!(
            webhook_signature("k", b"{}"),
            "sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff"
        );
    }
}
