//! Chinese first, English on request: `?lang=en|zh`, else the first of
//! `Accept-Language` that is Chinese or English, else Chinese.

use axum::http::{HeaderMap, header};

pub use analytics::report::Lang;

/// The language of a request.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Lang {
    match query.map(str::to_ascii_lowercase) {
        Some(q) if q.starts_with("en") => return Lang::En,
        Some(q) if q.starts_with("zh") => return Lang::Zh,
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut tags: Vec<(f32, &str)> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.trim().split(';');
            let tag = it.next()?.trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse().ok())
                .unwrap_or(1.0);
            Some((q, tag))
        })
        .collect();
    // Stable: equal weights keep the header's order.
    tags.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, tag) in tags {
        let tag = tag.to_ascii_lowercase();
        if tag.starts_with("zh") {
            return Lang::Zh;
        }
        if tag.starts_with("en") {
            return Lang::En;
        }
    }
    Lang::Zh
}

/// The `lang` attribute of an HTML page.
pub fn html_lang(lang: Lang) -> &'static str {
    lang.pick("zh-CN", "en")
}

/// A text of the server-rendered views.
pub fn t(lang: Lang, key: &str) -> &'static str {
    let (zh, en) = match key {
        "live" => ("实时", "Live"),
        "manager" => ("闲置空间", "Idle spaces"),
        "evaluator" => ("试点比较", "Comparison"),
        "manager_title" => ("闲置空间 · 房间使用率", "Idle spaces · Room use"),
        "evaluator_title" => ("试点社区比较", "Pilot sites compared"),
        "site" => ("社区", "Site"),
        "district" => ("区", "District"),
        "city" => ("城市", "City"),
        "category" => ("服务类别", "Category"),
        "room" => ("房间", "Room"),
        "capacity" => ("容量（人）", "Capacity (people)"),
        "what_it_means" => ("这个数是怎么算的", "What this number means"),
        "rank_by" => ("排名依据", "Rank by"),
        "devices" => ("设备", "Devices"),
        "devices_title" => ("设备状态", "Devices"),
        "devices_note" => (
            "每台登记设备的最后上报、电量、信号、固件和上报间隔，以及今天（社区当地时间）收到和拒收的消息。离线：超过一条上报的有效期（一般为上报间隔的 3 倍）没有消息。",
            "Each registered device's last report, battery, signal, firmware and report interval, and today's messages accepted and rejected (the site's local day). Offline: nothing within a report's validity (usually 3 report intervals).",
        ),
        "waiting_title" => ("等待登记的设备", "Devices waiting for registration"),
        "waiting_note" => (
            "这些设备在本社区的主题下发送消息，但不在登记表里：把它们加入登记表后，数据就会计入房间。",
            "These devices publish under this site but are not in the registry: once registered, their data counts for their rooms.",
        ),
        "none_waiting" => ("没有等待登记的设备", "No device is waiting"),
        "more_waiting" => (
            "另有未列出的未登记设备（各社区合计）：",
            "More unregistered devices not listed (all sites):",
        ),
        "no_sites" => ("没有可查看的社区", "No site to show"),
        "monthly" => ("使用月报", "Monthly report"),
        "monthly_link" => ("打印月报", "Monthly report to print"),
        "site_reports" => ("各社区月报", "Each site's report"),
        "month" => ("月份", "Month"),
        "period" => ("统计期", "Period"),
        "partial_month" => (
            "本月尚未结束，截至最新一天",
            "the month is not over: to the latest day",
        ),
        "attention" => ("需要关注的房间", "Rooms that need attention"),
        "no_flags" => (
            "本月没有需要关注的房间",
            "No room needs attention this month",
        ),
        "monthly_footer" => (
            "由 doorstep 根据传感器数据生成；各项指标的定义见页面上的“?”。用浏览器的“打印”可另存为文件。",
            "Made by doorstep from the sensors' data; the \"?\" next to a number gives its definition. The browser's Print saves it as a file.",
        ),
        "free_hours" => ("每周空闲时段", "Free hours each week"),
        "service_day" => ("服务时段", "Service day"),
        "free_hours_per_week" => ("每周空闲合计", "Free per week"),
        "evaluated_to" => ("评估截至", "Evaluated to"),
        "printable" => ("打印版", "Printable (save as PDF)"),
        "free_in_room" => (
            "空闲时段（精确到分钟，含非开放时段）",
            "Free stretches (to the minute, with the hours outside opening)",
        ),
        "tu7" => ("时间利用率 7天", "Time use 7 d"),
        "tu28" => ("时间利用率 28天", "Time use 28 d"),
        "cu7" => ("容量利用率 7天", "Capacity use 7 d"),
        "cu28" => ("容量利用率 28天", "Capacity use 28 d"),
        "cov28" => ("覆盖率 28天", "Coverage 28 d"),
        "flags" => ("标记", "Flags"),
        "trend" => ("趋势 (28天)", "Trend (28 d)"),
        "heatmap" => ("周 × 小时使用", "Weekday × hour use"),
        "idle_blocks" => (
            "闲置时段（错时使用候选）",
            "Idle blocks (candidates for another service)",
        ),
        "no_blocks" => ("没有闲置时段", "No idle blocks"),
        "no_data" => (
            "还没有数据：房间的日数据在次日凌晨 4 点后写入。",
            "No data yet: a room's day is written after 04:00 the next morning.",
        ),
        "all" => ("全部", "All"),
        "filter" => ("筛选", "Filter"),
        "download_csv" => ("下载 CSV", "Download CSV"),
        "rank" => ("排名", "Rank"),
        "rank_city" => ("市内排名", "City rank"),
        "percentile" => ("百分位", "Percentile"),
        "days" => ("天数", "Days"),
        "coverage" => ("覆盖率", "Coverage"),
        "time_utilization" => ("时间利用率", "Time use"),
        "capacity_utilization" => ("容量利用率", "Capacity use"),
        "visits_per_day" => ("日均到访", "Visits/day"),
        "visits_per_100m2_day" => ("每百平米日均到访", "Visits/100 m²/day"),
        "share_rooms_underused" => ("使用不足房间占比", "Rooms underused"),
        "functions" => ("在用功能", "Functions in use"),
        "mix" => ("功能配置达标", "Function mix met"),
        "ranking" => ("时间利用率排名", "Ranking by time use"),
        "distribution" => ("时间利用率分布", "Distribution of time use"),
        "left_out" => (
            "未参与比较（覆盖率不足等）",
            "Left out (coverage and other reasons)",
        ),
        "reason" => ("原因", "Reason"),
        "yes" => ("是", "yes"),
        "no" => ("否", "no"),
        "window" => ("时间窗", "Window"),
        "details" => ("详情", "Details"),
        "sites" => ("社区数", "Sites"),
        "login_title" => ("登录", "Sign in"),
        "token" => ("访问令牌", "Access token"),
        "login" => ("登录", "Sign in"),
        "logout" => ("退出", "Sign out"),
        "bad_token" => ("令牌无效", "Unknown token"),
        "forbidden" => ("无权查看", "Not allowed"),
        "back" => ("返回", "Back"),
        "mix_note" => (
            "功能配置：至少 3 项服务在用（时间利用率 ≥ 10%），其中至少 2 项为养老、托育、儿童托管、助餐。",
            "Function mix: at least 3 services in use (time use ≥ 10%), at least 2 of them elderly care, infant care, after-school care or meal aid.",
        ),
        _ => ("?", "?"),
    };
    lang.pick(zh, en)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, v.parse().expect("header"));
        h
    }

    #[test]
    fn query_then_accept_language_then_chinese() {
        assert_eq!(negotiate(None, &HeaderMap::new()), Lang::Zh);
        assert_eq!(negotiate(None, &accept("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            negotiate(None, &accept("fr, en;q=0.5, zh-CN;q=0.8")),
            Lang::Zh
        );
        assert_eq!(negotiate(Some("en"), &accept("zh-CN")), Lang::En);
        assert_eq!(negotiate(Some("zh"), &accept("en")), Lang::Zh);
    }
}
