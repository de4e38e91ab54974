//! How people use each kind of service room over a day, and the few random
//! draws the simulator needs (Poisson counts, dwell times).
//!
//! A category's day is a base level plus Gaussian bumps at its busy hours
//! (meal aid at lunch, infant care in the morning, ...). The shape is turned
//! into an arrival rate by Little's law, so that a room of an ordinary
//! popularity holds about `LOAD` x capacity at the height of its busiest bump.

use crate::category::Category;
use rand::Rng;

/// Resolution of the daily tables, seconds.
const SLOT_S: i64 = 300;
/// Slots in a day.
const SLOTS: usize = (86_400 / SLOT_S) as usize;
/// Share of capacity an ordinary room holds at the top of its day.
const LOAD: f64 = 0.75;
/// Shortest visit, seconds: someone who comes in stays at least this long.
const MIN_DWELL_S: f64 = 120.0;

/// The daily shape of one category: a base level and bumps
/// `(local hour of the peak, width in hours, height)`.
fn shape(c: Category) -> (f64, &'static [(f64, f64, f64)]) {
    match c {
        // Singing, dancing and cards after the midday rest; a few in the morning.
        Category::ElderlyCare => (0.08, &[(9.5, 1.0, 0.35), (15.0, 1.2, 0.9)]),
        // Toddlers with grandparents in the morning, a smaller afternoon group.
        Category::InfantCare => (0.05, &[(9.3, 1.0, 0.9), (15.3, 0.8, 0.3)]),
        // After school, then evening classes.
        Category::ChildCare => (0.05, &[(16.6, 0.5, 0.45), (18.8, 1.0, 0.9)]),
        // Lunch from 11:00 to 12:30, a smaller supper.
        Category::MealAid => (0.03, &[(11.6, 0.45, 1.0), (17.6, 0.45, 0.5)]),
        Category::Housekeeping => (0.05, &[(10.0, 1.2, 0.5), (15.5, 1.2, 0.4)]),
        // Check-ups and blood pressure in the mid-morning.
        Category::Health => (0.05, &[(9.7, 0.9, 0.9), (15.0, 1.0, 0.35)]),
        // Before work and after supper.
        Category::Fitness => (0.1, &[(7.3, 0.9, 0.7), (19.5, 1.1, 0.85)]),
        Category::Culture => (
            0.1,
            &[(10.0, 1.5, 0.35), (15.0, 1.5, 0.5), (19.8, 1.0, 0.5)],
        ),
        Category::ChildrenPlay => (0.05, &[(10.0, 1.2, 0.35), (16.8, 1.3, 0.8)]),
        Category::SharedSpace => (0.1, &[(10.0, 1.5, 0.4), (15.0, 1.5, 0.4), (19.5, 1.0, 0.4)]),
        Category::Other => (0.3, &[]),
    }
}

/// Mean time a visitor stays, seconds.
pub(super) fn mean_dwell_s(c: Category) -> f64 {
    let minutes = match c {
        Category::ElderlyCare => 90.0,
        Category::InfantCare => 150.0,
        Category::ChildCare => 90.0,
        Category::MealAid => 35.0,
        Category::Housekeeping => 15.0,
        Category::Health => 20.0,
        Category::Fitness => 60.0,
        Category::Culture => 75.0,
        Category::ChildrenPlay => 45.0,
        Category::SharedSpace => 60.0,
        Category::Other => 45.0,
    };
    minutes * 60.0
}

/// How much busier a day off (weekend or public holiday) is than a working day.
fn weekend_factor(c: Category) -> f64 {
    match c {
        Category::InfantCare => 0.6,
        Category::MealAid => 0.85,
        Category::ElderlyCare => 0.9,
        Category::ChildCare | Category::Fitness | Category::Culture => 1.2,
        Category::ChildrenPlay => 1.4,
        _ => 1.0,
    }
}

/// Arrival rates per person of capacity, looked up by category and time of day.
pub(super) struct Profiles {
    /// `[category][slot]`: arrivals per second per person of capacity, on a weekday.
    rate: Vec<[f32; SLOTS]>,
}

impl Profiles {
    /// Tabulates every category once; lookups are then an index.
    pub(super) fn new() -> Profiles {
        let rate = Category::ALL
            .iter()
            .map(|&c| {
                let (base, bumps) = shape(c);
                let dwell = mean_dwell_s(c);
                let mut row = [0f32; SLOTS];
                for (slot, r) in row.iter_mut().enumerate() {
                    let hour = (slot as f64 + 0.5) * SLOT_S as f64 / 3600.0;
                    let fill = base
                        + bumps
                            .iter()
                            .map(|&(peak, width, height)| {
                                let z = (hour - peak) / width;
                                height * (-0.5 * z * z).exp()
                            })
                            .sum::<f64>();
                    *r = (LOAD * fill / dwell) as f32;
                }
                row
            })
            .collect();
        Profiles { rate }
    }

    /// Arrivals per second per person of capacity for `c` at `second_of_day` local time.
    pub(super) fn rate(&self, c: Category, second_of_day: i64, day_off: bool) -> f64 {
        let slot = (second_of_day.rem_euclid(86_400) / SLOT_S) as usize;
        // `Category` is a fieldless enum declared in the order of `Category::ALL`.
        let r = f64::from(self.rate[c as usize][slot.min(SLOTS - 1)]);
        if day_off { r * weekend_factor(c) } else { r }
    }
}

/// A Poisson count with the given mean: Knuth's product of uniforms for small
/// means, a rounded normal for large ones.
pub(super) fn poisson<R: Rng>(rng: &mut R, mean: f64) -> u32 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p: f64 = rng.random();
        while p > limit {
            k += 1;
            p *= rng.random::<f64>();
        }
        k
    } else {
        (mean + mean.sqrt() * normal(rng)).round().max(0.0) as u32
    }
}

/// A standard normal draw (Box-Muller).
fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An exponential draw with the given mean.
fn exponential<R: Rng>(rng: &mut R, mean: f64) -> f64 {
    // 1 - U lies in (0, 1], so the logarithm is finite.
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// A visit length in whole seconds: Erlang-2 with the category's mean, so
/// that very short visits are rarer than under a plain exponential.
pub(super) fn dwell_s<R: Rng>(rng: &mut R, c: Category) -> i64 {
    let half = mean_dwell_s(c) / 2.0;
    (exponential(rng, half) + exponential(rng, half)).max(MIN_DWELL_S) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn poisson_and_dwell_have_their_means() {
        let mut rng = StdRng::seed_from_u64(7);
        for mean in [0.2, 3.0, 50.0] {
            let n = 20_000;
            let sum: u64 = (0..n).map(|_| u64::from(poisson(&mut rng, mean))).sum();
            let got = sum as f64 / n as f64;
            assert!((got - mean).abs() < 0.05 * mean + 0.02, "{mean}: {got}");
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
        let n = 20_000;
        let sum: i64 = (0..n).map(|_| dwell_s(&mut rng, Category::MealAid)).sum();
        let got = sum as f64 / n as f64;
        assert!((got - 2100.0).abs() < 60.0, "{got}");
    }

    #[test]
    fn categories_peak_at_their_hours() {
        let p = Profiles::new();
        let at = |c, h: f64| p.rate(c, (h * 3600.0) as i64, false);
        assert!(at(Category::MealAid, 11.75) > 3.0 * at(Category::MealAid, 15.0));
        assert!(at(Category::MealAid, 11.75) > at(Category::MealAid, 17.5));
        assert!(at(Category::MealAid, 17.5) > 3.0 * at(Category::MealAid, 15.0));
        assert!(at(Category::InfantCare, 9.5) > 2.0 * at(Category::InfantCare, 15.5));
        assert!(at(Category::ElderlyCare, 15.0) > 2.0 * at(Category::ElderlyCare, 9.5));
        assert!(at(Category::ChildCare, 19.0) > 2.0 * at(Category::ChildCare, 10.0));
        assert!(at(Category::Fitness, 7.5) > 3.0 * at(Category::Fitness, 13.0));
        assert!(at(Category::Fitness, 19.5) > 3.0 * at(Category::Fitness, 13.0));
        assert!(at(Category::Health, 9.75) > 2.0 * at(Category::Health, 15.0));
    }
}
