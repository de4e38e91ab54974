//! `/help/metrics`: doorstep's metric reference (docs/METRICS.md, compiled
//! into the binary), so the "?" next to a number explains it on an intranet
//! without anything fetched from elsewhere. Open to everyone: it tells
//! nothing about sites.

use super::frame::document;
use crate::i18n::{self, Lang};
use axum::extract::Query;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use maud::{PreEscaped, html};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::sync::LazyLock;

const METRICS_MD: &str = include_str!("../../../docs/METRICS.md");

/// The reference as HTML, made once.
static METRICS_HTML: LazyLock<String> = LazyLock::new(|| render(METRICS_MD));

/// Where the "?" of a column points: the section of the reference that defines it.
pub(crate) fn anchor(column: &str) -> Option<&'static str> {
    Some(match column {
        c if c.starts_with("time_utilization")
            || c.starts_with("capacity_utilization")
            || c.starts_with("coverage") =>
        {
            "room-metrics"
        }
        c if c.starts_with("visits") => "visits",
        "flags" | "door_drift_rooms" => "flags",
        "hours" | "start_hour" | "end_hour" => "idle-slots",
        "idle_while_open_hours" | "outside_opening_hours" | "free_hours_per_week" => {
            "free-hours-each-week"
        }
        "national_rank"
        | "city_rank"
        | "percentile"
        | "share_rooms_underused"
        | "functions_in_use"
        | "functions"
        | "meets_function_mix" => "site-metrics-for-evaluators",
        _ => return None,
    })
}

/// The id of a heading: its English part (after " · "), lower case, words joined by "-".
fn slug(text: &str) -> String {
    let english = text.rsplit(" · ").next().unwrap_or(text);
    let mut out = String::new();
    for ch in english.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Markdown to HTML, each heading with the id of its [`slug`].
fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES;
    let events: Vec<Event> = Parser::new_ext(markdown, options).collect();
    // The text of each heading, in order.
    let mut titles = Vec::new();
    let mut current: Option<String> = None;
    for e in &events {
        match e {
            Event::Start(Tag::Heading { .. }) => current = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(t);
                }
            }
            Event::End(TagEnd::Heading(_)) => titles.extend(current.take()),
            _ => {}
        }
    }
    let mut titles = titles.into_iter();
    // Links to the project's other documents lead nowhere on an intranet page:
    // their text stays, the link goes; links within the page stay.
    let mut dropped = Vec::new();
    let events = events.into_iter().filter_map(move |e| match e {
        Event::Start(Tag::Heading {
            level,
            classes,
            attrs,
            ..
        }) => Some(Event::Start(Tag::Heading {
            level,
            id: titles.next().map(|t| slug(&t).into()),
            classes,
            attrs,
        })),
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let drop = !dest_url.starts_with('#');
            dropped.push(drop);
            (!drop).then_some(e)
        }
        Event::End(TagEnd::Link) => (!dropped.pop().unwrap_or(false)).then_some(e),
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// `?lang=`.
#[derive(serde::Deserialize, Default)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

/// `GET /help/metrics`.
pub(crate) async fn metrics(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let title = match lang {
        Lang::Zh => "指标说明",
        Lang::En => "What the numbers mean",
    };
    let body = html! {
        main.help {
            article { (PreEscaped(METRICS_HTML.as_str())) }
        }
    };
    Html(document(lang, title, body).into_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_anchor_a_column_points_to_is_a_heading_of_the_reference() {
        let html = render(METRICS_MD);
        for column in [
            "time_utilization_28d",
            "visits_per_day",
            "flags",
            "hours",
            "national_rank",
            "free_hours_per_week",
            "visits_method",
        ] {
            let id = anchor(column).expect("an anchor");
            assert!(html.contains(&format!("id=\"{id}\"")), "{column}: #{id}");
        }
        // The other documents are not on the web: their names stay as text.
        assert!(!html.contains("href=\"REPORTS.md"), "no dead links");
        assert!(html.contains("REPORTS.md"), "the name stays");
        assert_eq!(
            slug("社区指标 · Site metrics, for evaluators"),
            "site-metrics-for-evaluators"
        );
        assert_eq!(anchor("site_name"), None);
    }
}
