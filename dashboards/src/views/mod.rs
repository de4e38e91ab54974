//! The views: HTML pages rendered on the server (manager, evaluator, login),
//! the live page (rendered in the browser from the JSON API), and the shared
//! page frame and table helpers (CSV: `crate::csv`).

pub(crate) mod charts;
pub(crate) mod evaluator;
pub(crate) mod login;
pub(crate) mod manager;
pub(crate) mod operator;

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{Lang, html_lang, t};
use analytics::report::{Table, Value};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write;

/// Escapes text for HTML.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fraction as a percentage, `—` when unknown.
pub(crate) fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// A whole HTML page with the navigation of `user`'s role.
pub(crate) fn frame(
    state: &AppState,
    user: &User,
    lang: Lang,
    title: &str,
    here: &str,
    query: &str,
    body: &str,
) -> Response {
    let mut nav = String::new();
    let mut link = |path: &str, key: &str| {
        let on = if path == here { " class=\"on\"" } else { "" };
        let _ = write!(
            nav,
            "<a href=\"{path}?lang={}\"{on}>{}</a>",
            lang.pick("zh", "en"),
            t(lang, key)
        );
    };
    link("/", "live");
    if user.may_manage() {
        link("/manager", "manager");
    }
    if user.may_evaluate() {
        link("/evaluator", "evaluator");
    }
    let sep = if query.is_empty() { "" } else { "&" };
    let other = lang.pick("en", "zh");
    let other_name = lang.pick("EN", "中文");
    let logout = if state.access.is_open() {
        String::new()
    } else {
        format!(
            "<span class=\"muted\">{}</span> {}",
            esc(&user.name),
            login::logout_button(lang)
        )
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"{hl}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n<link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n\
<header class=\"top\"><h1>{title}</h1><nav class=\"views\">{nav}</nav>\
<nav class=\"lang\"><a href=\"{here}?{query}{sep}lang={other}\" id=\"lang-switch\">{other_name}</a>{logout}</nav></header>\n\
<main>\n{body}\n</main>\n</body>\n</html>\n",
        hl = html_lang(lang),
        title = esc(title),
        css = crate::assets::APP_CSS_PATH,
    );
    ([(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response()
}

/// A value as text for HTML and CSV (fractions as fractions in CSV).
pub(crate) fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.to_string(),
    }
}

/// A report table as JSON objects, in column order.
pub(crate) fn table_json(table: &Table) -> Vec<serde_json::Map<String, serde_json::Value>> {
    table
        .rows
        .iter()
        .map(|row| {
            table
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let json = match v {
                        Value::Null => serde_json::Value::Null,
                        Value::Text(s) => s.clone().into(),
                        Value::Int(i) => (*i).into(),
                        Value::Float(f) => serde_json::Number::from_f64(*f)
                            .map_or(serde_json::Value::Null, Into::into),
                        Value::Bool(b) => (*b).into(),
                        Value::Date(d) => d.to_string().into(),
                    };
                    (c.name.clone(), json)
                })
                .collect()
        })
        .collect()
}

/// A report table as an HTML table; `fractions` columns shown as percentages.
pub(crate) fn table_html(
    table: &Table,
    lang: Lang,
    link: impl Fn(&[Value]) -> Option<String>,
) -> String {
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for c in &table.columns {
        let head = match lang {
            Lang::Zh => &c.zh,
            Lang::En => &c.name,
        };
        let _ = write!(out, "<th>{}</th>", esc(head));
    }
    out.push_str("<th></th></tr></thead><tbody>");
    for row in &table.rows {
        out.push_str("<tr>");
        for (c, v) in table.columns.iter().zip(row) {
            let text = match (c.kind, v) {
                (analytics::report::Kind::Fraction, Value::Float(f)) => pct(Some(*f)),
                (analytics::report::Kind::Float, Value::Float(f)) => format!("{f:.1}"),
                (_, Value::Bool(b)) => t(lang, if *b { "yes" } else { "no" }).to_owned(),
                (_, v) => cell_text(v),
            };
            let _ = write!(out, "<td>{}</td>", esc(&text));
        }
        match link(row) {
            Some(href) => {
                let _ = write!(
                    out,
                    "<td><a href=\"{}\">{}</a></td>",
                    esc(&href),
                    t(lang, "details")
                );
            }
            None => out.push_str("<td></td>"),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// 403 for a view the role may not open.
pub(crate) fn forbidden(what: &str) -> Response {
    error_json(StatusCode::FORBIDDEN, what, "")
}

/// Runs blocking report code off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::warn!(error = %e, "a report task failed");
        error_json(StatusCode::INTERNAL_SERVER_ERROR, "report failed", "")
    })
}
