//! The three views in headless Chromium against the running binary, driven
//! over the DevTools protocol (a small WebSocket client below; no npm, no
//! Selenium): each view loads with data, a message published over MQTT
//! changes the live tile without a reload, the language follows
//! Accept-Language and `?lang=en` and the switch, and the pages fit a phone.
//! Screenshots go to `target/test-artifacts/`.

use crate::common::*;
use crate::webapp::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// Headless Chromium, killed when dropped.
pub(crate) struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DevTools protocol session with one page, over a minimal WebSocket client.
pub(crate) struct Page {
    ws: TcpStream,
    next: u64,
}

impl Page {
    fn open(port: u16) -> Page {
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        let url = wait_for(Duration::from_secs(30), "Chromium's DevTools", || {
            let body = devtools_list(addr)?;
            let targets: Value = serde_json::from_str(&body).ok()?;
            targets.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                .as_str()
                .map(str::to_owned)
        });
        let path = url.splitn(4, '/').nth(3).expect("ws path");
        let mut ws = TcpStream::connect(addr).expect("connect DevTools");
        write!(
            ws,
            "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: ZG9vcnN0ZXAtYnJvd3Nlcg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("handshake");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            ws.read_exact(&mut byte).expect("handshake answer");
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        ws.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Page { ws, next: 0 }
    }

    fn write_frame(&mut self, text: &str) {
        let data = text.as_bytes();
        let mut frame = vec![0x81u8];
        match data.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65_536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x08];
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.ws.write_all(&frame).expect("write frame");
    }

    fn read_message(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.ws.read_exact(&mut h).expect("frame header");
            let fin = h[0] & 0x80 != 0;
            let opcode = h[0] & 0x0f;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.ws.read_exact(&mut b).expect("len");
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.ws.read_exact(&mut b).expect("len");
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            self.ws.read_exact(&mut payload).expect("payload");
            if opcode == 0x9 || opcode == 0xA {
                continue; // ping, pong
            }
            message.extend_from_slice(&payload);
            if fin {
                return String::from_utf8(message).expect("UTF-8 message");
            }
        }
    }

    /// Calls a DevTools method and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.write_frame(&json!({ "id": id, "method": method, "params": params }).to_string());
        loop {
            let m: Value = serde_json::from_str(&self.read_message()).expect("JSON message");
            if m["id"] == id {
                assert!(m["error"].is_null(), "{method}: {m}");
                return m["result"].clone();
            }
        }
    }

    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        assert!(r["exceptionDetails"].is_null(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    pub(crate) fn wait(&mut self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.eval(expression);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({expression}); page:\n{}",
                self.eval("document.body ? document.body.innerText : ''")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(crate) fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait(
            "the page to load",
            "document.readyState === 'complete' && location.href",
        );
    }

    pub(crate) fn screenshot(&mut self, name: &str) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().expect("png data"))
                .expect("base64 png")
        };
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// The page printed to PDF as the browser's print dialog would (A4), saved as an artifact.
    fn pdf(&mut self, name: &str) -> usize {
        let r = self.call(
            "Page.printToPDF",
            json!({ "paperWidth": 8.27, "paperHeight": 11.69, "printBackground": false }),
        );
        let pdf = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().expect("pdf data"))
                .expect("base64 pdf")
        };
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        std::fs::write(artifacts().join(format!("{name}.pdf")), &pdf).expect("write the PDF");
        pdf.len()
    }

    fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }
}

/// `GET /json/list` of DevTools.
fn devtools_list(addr: std::net::SocketAddr) -> Option<String> {
    http_get(addr, "/json/list")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

pub(crate) fn chromium() -> Option<(Chromium, Page)> {
    if !have("chromium") {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing on CI: apt-get install chromium"
        );
        eprintln!(
            "\n*** SKIPPED browser tests: chromium is not installed (apt-get install chromium) ***\n"
        );
        return None;
    }
    let profile = tempfile::tempdir().expect("profile dir");
    let port = free_port();
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--window-size=1280,900",
            &format!("--remote-debugging-port={port}"),
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let browser = Chromium {
        child,
        _profile: profile,
    };
    let mut page = Page::open(port);
    page.call("Page.enable", json!({}));
    page.call("Runtime.enable", json!({}));
    Some((browser, page))
}

fn accept_language(page: &mut Page, lang: &str) {
    let ua = page.call("Browser.getVersion", json!({}))["userAgent"].clone();
    page.call(
        "Emulation.setUserAgentOverride",
        json!({ "userAgent": ua, "acceptLanguage": lang }),
    );
}

/// Words of the other language in the rendered page: Latin words on a Chinese
/// page (other than ids of the test registry, units and product names),
/// Chinese on an English page (other than the registry's own names, which are
/// Chinese everywhere, and the link to the Chinese page).
fn language_leaks(page: &mut Page, lang: &str) -> Value {
    let field = |key: &str| -> Vec<String> {
        crate::webapp::REGISTRY
            .lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter_map(|v| {
                v.trim()
                    .strip_prefix('=')?
                    .trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')
                    .map(str::to_owned)
            })
            .collect()
    };
    let mut names = field("name");
    names.extend(field("city"));
    names.extend(field("district"));
    names.push("中文".into());
    let ids: Vec<String> = field("id")
        .iter()
        .flat_map(|id| id.split('-').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let script = format!(
        r#"(() => {{
  const names = {names}, ids = {ids};
  // A device's own messages (the device page's samples) are data, not the page's words.
  const samples = [...document.querySelectorAll('pre.sample')];
  samples.forEach(e => {{ e.style.display = 'none'; }});
  let t = document.body.innerText;
  samples.forEach(e => {{ e.style.display = ''; }});
  if ('{lang}' === 'zh') {{
    // EN: the language switch; anonymous: who acknowledged on an open app (a user name).
    // JSON, dBm: a message format and a unit, written so in Chinese too.
    const ok = new Set(ids.concat(['EN', 'CSV', 'API', 'JSON', 'dBm', 'doorstep', 'anonymous']));
    return [...new Set((t.match(/[A-Za-z][A-Za-z_]*[A-Za-z]/g) || []).filter(w => !ok.has(w)))];
  }}
  names.sort((a, b) => b.length - a.length).forEach(n => {{ t = t.split(n).join(' '); }});
  return [...new Set(t.match(/[\u3400-\u9fff\uff01-\uff5e\u3001-\u3011]+/g) || [])];
}})()"#,
        names = serde_json::to_string(&names).unwrap_or_default(),
        ids = serde_json::to_string(&ids).unwrap_or_default(),
    );
    page.eval(&script)
}

#[test]
fn views_live_push_language_and_phone() {
    // Chromium keeps a core busy for half a minute: not beside a heavy test.
    let _turn = busy();
    let Some((_browser, mut page)) = chromium() else {
        return;
    };
    // Open access on loopback, like the demo: no login.
    let app = start(false);
    let base = format!("http://{}", app.web);
    app.count("sh-a", "sh-a-hall", 1, 7);
    app.count("cd-b", "cd-b-gym", 1, 30);
    wait_for(Duration::from_secs(30), "live values", || {
        let (_, body) = http_get(app.web, "/api/live")?;
        (body.contains("\"occupancy\":7") && body.contains("\"occupancy\":30")).then_some(())
    });

    // Live view, Chinese from Accept-Language.
    accept_language(&mut page, "zh-CN,zh;q=0.9,en;q=0.5");
    page.goto(&format!("{base}/"));
    page.wait(
        "three tiles",
        "document.querySelectorAll('.tile').length === 3",
    );
    page.wait(
        "the hall's count",
        "document.querySelector('.tile[data-room=hall] .occ').textContent === '7'",
    );
    assert_eq!(page.eval("document.documentElement.lang"), "zh-CN");
    assert_eq!(page.eval("document.title"), "家门口服务设施 · 实时使用情况");
    page.wait(
        "the over-capacity alert",
        "document.querySelector('#alert-list li[data-kind=over_capacity]') !== null",
    );
    page.wait(
        "the event stream",
        "document.getElementById('conn').getAttribute('data-state') === 'live'",
    );

    // A message over MQTT changes the tile through the event stream, without a reload.
    page.eval("window.__notReloaded = true; 1");
    app.count("sh-a", "sh-a-hall", 2, 12);
    page.wait(
        "the pushed change",
        "Array.from(document.querySelectorAll('#pushes li')).some(li => li.textContent === 'sh-a/hall=12')",
    );
    page.wait(
        "the tile to show 12",
        "document.querySelector('.tile[data-room=hall] .occ').textContent === '12'",
    );
    assert_eq!(
        page.eval("window.__notReloaded === true"),
        true,
        "no reload"
    );
    // Acknowledge the alert from the page.
    page.eval(
        "document.querySelector('#alert-list li[data-kind=over_capacity] button').click(); 1",
    );
    page.wait(
        "the acknowledgement",
        "document.querySelector('#alert-list li[data-kind=over_capacity]').className === 'acked'",
    );
    page.screenshot("live");

    // The language switch relabels the page in place.
    page.eval("document.querySelector('.lang a[data-lang=en]').click(); 1");
    page.wait(
        "English labels",
        "document.title === 'Doorstep service facilities · Live use'",
    );
    assert_eq!(page.eval("window.__notReloaded === true"), true);
    // The links to the other views follow, names and language.
    assert_eq!(
        page.eval("[...document.querySelectorAll('nav.views a')].map(a => a.textContent + ' ' + a.getAttribute('href')).join('; ')"),
        "Live /?lang=en; Devices /devices?lang=en; Idle spaces /manager?lang=en; Comparison /evaluator?lang=en"
    );
    page.screenshot("live-en");

    // The device page: a low battery, a device never heard, a rejected message
    // with its reason, and a device that publishes before it is registered.
    app.status("sh-a", "sh-a-hall", 8);
    app.raw("sh-a", "sh-a-hall", "{not json");
    app.raw(
        "sh-a",
        "sh-a-hall-2",
        &format!(r#"{{"type":"count","ts":{},"count":3}}"#, app.now_ms()),
    );
    // The page is drawn on request: reload until the intake has noted all three.
    let hall = "document.querySelector('#devices tbody tr:first-child')";
    let noted = format!(
        "(r => r.innerText.includes('电量低') && r.innerText.includes('不是有效的 JSON ×1'))({hall}) \
         && document.querySelector('#waiting').innerText.includes('sh-a-hall-2')"
    );
    wait_for(
        Duration::from_secs(30),
        "the device page to show them",
        || {
            page.goto(&format!("{base}/devices?site=sh-a&lang=zh"));
            (page.eval(&noted) == true).then_some(())
        },
    );
    let rows = page.eval("[...document.querySelectorAll('#devices tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' ').trim())");
    let rows: Vec<String> = serde_json::from_value(rows).expect("rows");
    assert!(
        rows[0].contains("sh-a-hall")
            && rows[0].contains("8")
            && rows[0].contains("-97")
            && rows[0].contains("2.1.0"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("sh-a-nursery") && rows[1].contains("从未上报"),
        "{rows:?}"
    );
    let sample = page.eval("document.querySelector('#waiting pre.sample').textContent");
    assert!(
        sample.as_str().is_some_and(|s| s.contains(r#""count":3"#)),
        "{sample}"
    );
    // The entry to paste into the registry: its id, its kind from its message.
    let entry = page.eval("document.querySelectorAll('#waiting pre.sample')[1].textContent");
    assert_eq!(
        entry,
        "[[site.device]]\nid = \"sh-a-hall-2\"\nroom = \"\" # hall | nursery\nkind = \"count\""
    );
    page.screenshot("devices");

    // Manager view: rooms with their use and flags, a room's heatmap, blocks and trend.
    page.goto(&format!("{base}/manager?site=sh-a&room=nursery"));
    page.wait(
        "rooms",
        "document.querySelectorAll('#rooms tr[data-room]').length === 2",
    );
    let row = page.eval("document.querySelector('#rooms tr[data-room=nursery]').innerText");
    assert!(
        row.as_str()
            .is_some_and(|r| r.contains("3.3%") && r.contains("使用不足")),
        "{row}"
    );
    page.wait(
        "the heatmap",
        "(i => i && i.complete && i.naturalWidth > 0)(document.querySelector('.heatmap img'))",
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#room svg.trend path').length"),
        1
    );
    // A click on a header sorts by that column, a second click the other way.
    let first = "document.querySelector('#rooms tbody tr').getAttribute('data-room')";
    let click_tu28 = "[...document.querySelectorAll('#rooms th')].find(h => h.textContent.startsWith('时间利用率 28天')).click(); 1";
    page.eval(click_tu28);
    assert_eq!(page.eval(first), "nursery", "the least used room first");
    page.eval(click_tu28);
    assert_eq!(page.eval(first), "hall", "then the most used");
    page.screenshot("manager");
    // The site's free hours: per room on the manager page, the nursery's own
    // stretches to the minute in its detail, and a printable list.
    assert_eq!(
        page.eval("document.querySelectorAll('#free tbody tr').length"),
        2
    );
    let stretches = page.eval("document.querySelector('#room').innerText");
    assert!(
        stretches.as_str().is_some_and(|s| s.contains("开放但空闲")
            && s.contains("12:00")
            && s.contains("托育")
            && s.contains("非开放时段")),
        "{stretches}"
    );
    // The "?" next to a number opens the metric reference at its definition, from the binary.
    let help = page.eval("document.querySelector('#rooms th a.help').getAttribute('href')");
    let help = help.as_str().expect("a help link").to_owned();
    assert!(help.starts_with("/help/metrics?lang=zh#"), "{help}");
    page.goto(&format!("{base}{help}"));
    let id = help.rsplit('#').next().unwrap_or_default().to_owned();
    page.wait(
        "the definition",
        &format!("document.getElementById('{id}') !== null && document.querySelectorAll('article h2').length > 5"),
    );
    page.screenshot("help-metrics");
    page.goto(&format!("{base}/manager/free-hours?site=sh-a"));
    page.wait(
        "the printable list",
        "document.querySelectorAll('#free-hours tbody tr').length === 6",
    );
    let facts = page.eval("document.querySelector('#free-hours p.muted').innerText");
    assert!(
        facts.as_str().is_some_and(|f| f.contains("46.0")),
        "{facts}"
    );
    page.screenshot("free-hours");

    // Evaluator view: ranking, distribution, the table with its drill-down and CSV link.
    page.goto(&format!("{base}/evaluator"));
    page.wait(
        "compared sites",
        "document.querySelectorAll('#sites tbody tr').length === 2",
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#charts svg').length"),
        2
    );
    assert_eq!(
        page.eval("document.querySelector('#sites tbody tr a').getAttribute('href').startsWith('/manager?site=cd-b')"),
        true
    );
    assert_eq!(
        page.eval(
            "!!document.querySelector('a[href^=\"/api/evaluator/sites?\"][href*=\"format=csv\"]')"
        ),
        true
    );
    // The facts and the functions in use read in Chinese, not as report keys and codes.
    assert_eq!(
        page.eval("/[a-z]_[a-z]/.test(document.querySelector('#facts').textContent)"),
        false,
        "{}",
        page.eval("document.querySelector('#facts').textContent")
    );
    assert_eq!(
        page.eval("document.querySelector('#facts').textContent.includes('全国参与比较')"),
        true
    );
    assert_eq!(
        page.eval("/elderly_care|infant_care|meal_aid|culture/.test(document.querySelector('#sites tbody').textContent)"),
        false,
        "{}",
        page.eval("document.querySelector('#sites tbody').textContent")
    );
    assert_eq!(
        page.eval("document.querySelector('#sites tbody').textContent.includes('文化休闲')"),
        true
    );
    page.screenshot("evaluator");

    // The monthly report, reached from the page: November so far, with the
    // charts, the sites, the rooms that need attention; it prints without the
    // navigation and the form.
    let href = page.eval("document.querySelector('#monthly-link').getAttribute('href')");
    page.goto(&format!("{base}{}", href.as_str().expect("a monthly link")));
    page.wait(
        "the monthly report",
        "document.querySelectorAll('#monthly #sites-table tbody tr, #monthly table').length > 0",
    );
    let text = page.eval("document.querySelector('#monthly').innerText");
    let text = text.as_str().expect("text").to_owned();
    for want in [
        "全国 · 社区嵌入式服务设施使用月报 · 2026年11月",
        "2026-11-01 – 2026-11-22",
        "本月尚未结束",
        "天平社区",
        "托育室",
        "使用不足",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    assert_eq!(
        page.eval("document.querySelectorAll('#monthly #charts svg').length"),
        2
    );
    page.screenshot("monthly");
    page.call("Emulation.setEmulatedMedia", json!({ "media": "print" }));
    assert_eq!(
        page.eval("[...document.querySelectorAll('header.top nav, #monthly form')].every(e => getComputedStyle(e).display === 'none')"),
        true
    );
    page.call("Emulation.setEmulatedMedia", json!({ "media": "" }));
    assert!(page.pdf("monthly") > 10_000, "a PDF with the charts");
    // One site's report, linked from the city's: its row, its rooms and its free hours.
    let href = page.eval("[...document.querySelectorAll('#site-reports a')].find(a => a.textContent === '天平社区').getAttribute('href')");
    assert_eq!(href, "/evaluator/monthly?site=sh-a&month=2026-11&lang=zh");
    page.goto(&format!("{base}/evaluator/monthly?site=sh-a&month=2026-11"));
    page.wait(
        "the site's report",
        "document.querySelectorAll('#monthly table').length === 3",
    );
    let text = page.eval("document.querySelector('#monthly h2').innerText");
    assert_eq!(text, "天平社区 · 社区嵌入式服务设施使用月报 · 2026年11月");
    page.screenshot("monthly-site");

    // English with ?lang=en, whatever the browser asks for.
    page.goto(&format!("{base}/evaluator?lang=en"));
    page.wait(
        "English",
        "document.querySelector('h1').textContent === 'Pilot sites compared'",
    );
    assert_eq!(page.eval("document.documentElement.lang"), "en");
    page.screenshot("evaluator-en");
    // An English browser gets English without asking.
    accept_language(&mut page, "en-US,en;q=0.9");
    page.goto(&format!("{base}/manager"));
    page.wait(
        "English",
        "document.querySelector('h1').textContent === 'Idle spaces · Room use'",
    );

    // Every view at 1400 px and on a 390 px phone, in each language: nothing
    // wider than the screen, no table wider than its box (on a phone rows are
    // cards), and no word of the other language.
    for (width, height, mobile) in [(1400, 900, false), (390, 844, true)] {
        page.viewport(width, height, mobile);
        for lang in ["zh", "en"] {
            accept_language(&mut page, if lang == "zh" { "zh-CN" } else { "en-US" });
            for (path, name) in [
                ("/", "live"),
                ("/manager?site=sh-a&room=nursery", "manager"),
                ("/evaluator", "evaluator"),
                ("/manager/free-hours?site=sh-a", "free-hours"),
                ("/evaluator/monthly", "monthly"),
                ("/devices?site=sh-a", "devices"),
            ] {
                page.goto(&format!("{base}{path}"));
                let ready = match path {
                    "/" => {
                        "document.querySelectorAll('.tile').length === 3 && document.querySelector('.tile[data-room=hall] .occ').textContent !== ''"
                    }
                    "/evaluator" => "document.querySelectorAll('#sites tbody tr').length === 2",
                    "/evaluator/monthly" => {
                        "document.querySelectorAll('#monthly table').length === 2"
                    }
                    "/devices?site=sh-a" => {
                        "document.querySelectorAll('#waiting pre.sample').length === 2"
                    }
                    "/manager/free-hours?site=sh-a" => {
                        "document.querySelectorAll('#free-hours tbody tr').length === 6"
                    }
                    _ => "document.querySelectorAll('#rooms tr[data-room]').length === 2",
                };
                page.wait("the view's data", ready);
                // Saved first, so a failure below has its picture.
                page.screenshot(&format!("{name}-{lang}-{width}"));
                let fits =
                    page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1");
                assert_eq!(fits, true, "{path} fits a {width} px screen ({lang})");
                let clipped = page.eval(
                    "[...document.querySelectorAll('.scroll')].filter(s => s.scrollWidth > s.clientWidth + 1).length",
                );
                assert_eq!(
                    clipped, 0,
                    "{path}: a table overflows at {width} px ({lang})"
                );
                if width > 640 && path != "/" {
                    // Every plain number has its unit in its column's header
                    // (percentages carry their own; ranks and weekdays have none; a count of days is headed "days").
                    let bare = page.eval(
                        r#"(() => {
  const bad = [], unitless = /rank|排名|percentile|百分位|weekday|星期|^days$|天数/i;
  document.querySelectorAll('.scroll table').forEach(tb => {
    const heads = [...tb.querySelectorAll('thead th')].map(h => h.textContent);
    tb.querySelectorAll('tbody tr').forEach(tr => [...tr.children].forEach((td, i) => {
      const text = td.textContent.trim(), head = heads[i] || '';
      if (/^-?[\d,]+(\.\d+)?$/.test(text) && !/[（(]/.test(head) && !unitless.test(head)) bad.push(head + ': ' + text);
    }));
  });
  return [...new Set(bad)];
})()"#,
                    );
                    assert_eq!(
                        bare,
                        serde_json::json!([]),
                        "{path} ({lang}): numbers without a unit"
                    );
                }
                let leaks = language_leaks(&mut page, lang);
                assert_eq!(
                    leaks,
                    serde_json::json!([]),
                    "{path} at {width} px in {lang}: words of the other language"
                );
            }
        }
    }
}
