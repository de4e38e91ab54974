//! Service categories of the programme (METRICS.md "Service categories").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The service a room hosts during one opening interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 养老: elderly care and activities.
    ElderlyCare,
    /// 托育: infant and toddler care (0-3 years).
    InfantCare,
    /// 儿童托管: after-school child care.
    ChildCare,
    /// 社区助餐: meal aid, community canteens.
    MealAid,
    /// 家政便民: housekeeping and convenience services.
    Housekeeping,
    /// 健康服务: health services.
    Health,
    /// 体育健身: fitness.
    Fitness,
    /// 文化休闲: culture and leisure.
    Culture,
    /// 儿童游憩: children's play.
    ChildrenPlay,
    /// 共享/多功能: shared or multi-purpose space.
    SharedSpace,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in the order of METRICS.md.
    pub const ALL: [Category; 11] = [
        Category::ElderlyCare,
        Category::InfantCare,
        Category::ChildCare,
        Category::MealAid,
        Category::Housekeeping,
        Category::Health,
        Category::Fitness,
        Category::Culture,
        Category::ChildrenPlay,
        Category::SharedSpace,
        Category::Other,
    ];

    /// The snake_case name used in files, tables and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::ElderlyCare => "elderly_care",
            Category::InfantCare => "infant_care",
            Category::ChildCare => "child_care",
            Category::MealAid => "meal_aid",
            Category::Housekeeping => "housekeeping",
            Category::Health => "health",
            Category::Fitness => "fitness",
            Category::Culture => "culture",
            Category::ChildrenPlay => "children_play",
            Category::SharedSpace => "shared_space",
            Category::Other => "other",
        }
    }

    /// The Chinese name shown to users.
    pub fn zh(self) -> &'static str {
        match self {
            Category::ElderlyCare => "养老",
            Category::InfantCare => "托育",
            Category::ChildCare => "儿童托管",
            Category::MealAid => "社区助餐",
            Category::Housekeeping => "家政便民",
            Category::Health => "健康服务",
            Category::Fitness => "体育健身",
            Category::Culture => "文化休闲",
            Category::ChildrenPlay => "儿童游憩",
            Category::SharedSpace => "共享空间",
            Category::Other => "其他",
        }
    }

    /// The display name in English.
    pub fn en(self) -> &'static str {
        match self {
            Category::ElderlyCare => "Elderly care",
            Category::InfantCare => "Infant care",
            Category::ChildCare => "After-school care",
            Category::MealAid => "Meal aid",
            Category::Housekeeping => "Housekeeping",
            Category::Health => "Health",
            Category::Fitness => "Fitness",
            Category::Culture => "Culture",
            Category::ChildrenPlay => "Children's play",
            Category::SharedSpace => "Shared space",
            Category::Other => "Other",
        }
    }

    /// One of the guideline's "一老一小" categories (elderly, infant, child care, meal aid).
    pub fn is_core(self) -> bool {
        matches!(
            self,
            Category::ElderlyCare | Category::InfantCare | Category::ChildCare | Category::MealAid
        )
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown service category {s:?} (one of: {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        assert!("canteen".parse::<Category>().is_err());
    }
}
