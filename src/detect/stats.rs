//! Small statistics used by the detectors: robust location and spread, and count tail
//! probabilities. Pure functions, each with its method and edge cases.

use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};

/// Median (the mean of the middle two for an even count) of the finite values. `None` for
/// none. Found by selection (Hoare's quickselect, as `select_nth_unstable` implements it) in
/// linear time rather than by sorting: the upper middle value is selected, the lower one is
/// the largest of the values left below it.
pub fn median(values: &[f64]) -> Option<f64> {
    median_in(values.iter().copied(), &mut Vec::new())
}

/// [`median`] of `values`, selected in `scratch`: a caller taking many medians reuses one
/// buffer instead of allocating one for each.
pub fn median_in(values: impl IntoIterator<Item = f64>, scratch: &mut Vec<f64>) -> Option<f64> {
    scratch.clear();
    scratch.extend(values.into_iter().filter(|x| x.is_finite()));
    let n = scratch.len();
    if n == 0 {
        return None;
    }
    let (below, &mut upper, _) = scratch.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    Some((lower + upper) / 2.0)
}

/// Median absolute deviation scaled to estimate a standard deviation under normality
/// (× 1.4826; Rousseeuw & Croux 1993). 0 when more than half the values are equal, `None` for
/// no values.
pub fn mad(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    mad_about(values, m, &mut Vec::new())
}

/// [`mad`] of values whose median `m` the caller has already taken, selected in `scratch`
/// (see [`median_in`]). `None` for no values.
pub fn mad_about(values: &[f64], m: f64, scratch: &mut Vec<f64>) -> Option<f64> {
    median_in(values.iter().filter(|x| x.is_finite()).map(|x| (x - m).abs()), scratch).map(|d| d * 1.4826)
}

/// Inserts `x` into `sorted` (ascending), keeping it sorted; a value that is not finite is
/// left out, as [`median_in`] leaves it out. For samples that grow one at a time and whose
/// median is taken after each: [`sorted_median`], [`sorted_mad_about`].
pub fn insert_sorted(sorted: &mut Vec<f64>, x: f64) {
    if x.is_finite() {
        let at = sorted.partition_point(|&v| v <= x);
        sorted.insert(at, x);
    }
}

/// [`median`] of values already sorted ascending (all finite): the middle one, or the mean of
/// the middle two, read off in constant time. `None` for none.
pub fn sorted_median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    let upper = *sorted.get(n / 2)?;
    Some(if n % 2 == 1 { upper } else { (sorted[n / 2 - 1] + upper) / 2.0 })
}

/// [`mad_about`] for values already sorted ascending (all finite), without selecting: the
/// absolute deviations from `m` grow outwards from where `m` falls among the values, so the
/// two runs (below `m`, and from `m` up) are merged from there until the middle one is
/// reached, in O(n) steps. The same number as [`mad_about`]. `None` for no values.
pub fn sorted_mad_about(sorted: &[f64], m: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let split = sorted.partition_point(|&v| v < m);
    let (mut below, mut above) = (sorted[..split].iter().rev(), sorted[split..].iter());
    let (mut next_below, mut next_above) = (below.next(), above.next());
    let mut previous = 0.0;
    for k in 0..=n / 2 {
        let deviation = match (next_below, next_above) {
            (Some(&b), Some(&a)) if (b - m).abs() <= (a - m).abs() => {
                next_below = below.next();
                (b - m).abs()
            }
            (_, Some(&a)) => {
                next_above = above.next();
                (a - m).abs()
            }
            (Some(&b), None) => {
                next_below = below.next();
                (b - m).abs()
            }
            (None, None) => return None,
        };
        if k == n / 2 {
            let middle = if n % 2 == 1 { deviation } else { (previous + deviation) / 2.0 };
            return Some(middle * 1.4826);
        }
        previous = deviation;
    }
    None
}

/// P(X ≥ x) for a count with the given mean and variance: Poisson when the variance does not
/// exceed the mean, otherwise negative binomial with the same mean and variance
/// (r = μ²/(σ² − μ), p = μ/σ²), which allows for over-dispersed counts. A mean of 0 makes
/// any positive count impossible (p = 0).
pub fn upper_tail(x: u64, mean: f64, variance: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if mean.is_nan() || mean <= 0.0 {
        return 0.0;
    }
    let sf = if variance > mean * 1.0001 {
        let p = mean / variance;
        let r = mean * mean / (variance - mean);
        match NegativeBinomial::new(r, p) {
            Ok(nb) => nb.sf(x - 1),
            Err(_) => return 0.0,
        }
    } else {
        match Poisson::new(mean) {
            Ok(poisson) => poisson.sf(x - 1),
            Err(_) => return 0.0,
        }
    };
    sf.clamp(0.0, 1.0)
}

/// Bonferroni: the per-test threshold that keeps the chance of any false alarm among `tests`
/// tests at `alpha`.
pub fn bonferroni(alpha: f64, tests: usize) -> f64 {
    alpha / tests.max(1) as f64
}

/// `2.3e-12`, `0.004`: a p-value for a sentence.
pub fn format_p(p: f64) -> String {
    if p < 1e-12 {
        "p < 1e-12".into()
    } else if p < 0.001 {
        format!("p ≈ {p:.0e}")
    } else {
        format!("p ≈ {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift64 generator (Marsaglia 2003): repeatable pseudo-random test values.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Samples kept sorted as they come give the medians and MADs that selection gives, at
    /// every length (odd and even, ties, MAD = 0, deviations tied across the median, values
    /// that are not finite left out), about the median and about other centres.
    #[test]
    fn sorted_samples_give_the_selected_median_and_mad() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut scratch = Vec::new();
        for round in 0..200 {
            let (mut sorted, mut values) = (Vec::new(), Vec::new());
            assert_eq!(sorted_median(&sorted), None);
            assert_eq!(sorted_mad_about(&sorted, 1.0), None);
            for _ in 0..40 {
                let x = match next() % 23 {
                    0 if round % 2 == 0 => f64::NAN,
                    1 => f64::INFINITY,
                    r if round % 3 == 0 => (r % 3) as f64,
                    r => (r as f64) * 1.5 + (next() % 1000) as f64 / 7.0,
                };
                insert_sorted(&mut sorted, x);
                values.push(x);
                assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
                let m = median(&values);
                assert_eq!(sorted_median(&sorted), m, "{values:?}");
                for centre in [m.unwrap_or(0.0), 0.0, 7.25] {
                    let expected = mad_about(&values, centre, &mut scratch);
                    assert_eq!(sorted_mad_about(&sorted, centre), expected, "{values:?} about {centre}");
                }
            }
        }
        // Deviations tied on both sides of the median, and every value equal (MAD = 0).
        assert_eq!(sorted_mad_about(&[1.0, 2.0, 3.0], 2.0), mad(&[1.0, 2.0, 3.0]));
        assert_eq!(sorted_mad_about(&[4.0, 4.0, 4.0, 4.0], 4.0), Some(0.0));
    }

    #[test]
    fn median_and_mad_edges() {
        assert_eq!(median(&[]), None);
        assert_eq!(mad(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(mad(&[5.0, 5.0, 5.0, 100.0]), Some(0.0), "MAD = 0 when most values are equal");
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
        let m = mad(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!((m - 1.4826).abs() < 1e-9);
        // A reused buffer holds whatever the last call left: it does not leak into the next.
        let mut scratch = vec![100.0; 9];
        assert_eq!(median_in([3.0, 1.0, 2.0], &mut scratch), Some(2.0));
        assert_eq!(median_in([], &mut scratch), None);
        assert_eq!(mad_about(&[], 0.0, &mut scratch), None);
        assert_eq!(mad_about(&[1.0, 2.0, 3.0, 4.0, 5.0], 3.0, &mut scratch), Some(m));
    }

    /// Selection gives the median sorting does, for odd and even counts, ties, zeros of both
    /// signs and values that are not finite.
    #[test]
    fn median_by_selection_equals_median_by_sorting() {
        let sorted_median = |values: &[f64]| {
            let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            let n = v.len();
            (n > 0).then(|| if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
        };
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for len in 0..60 {
            for _ in 0..20 {
                let values: Vec<f64> = (0..len)
                    .map(|_| match next() % 10 {
                        0 => -0.0,
                        1 => 0.0,
                        2 => f64::NAN,
                        3 => f64::INFINITY,
                        r => (next() % 50) as f64 * if r % 2 == 0 { 1.0 } else { -0.5 },
                    })
                    .collect();
                let (got, want) = (median(&values), sorted_median(&values));
                assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{values:?}");
            }
        }
    }

    #[test]
    fn poisson_and_negative_binomial_tails() {
        // Poisson(1): P(X >= 3) = 1 - e^-1 (1 + 1 + 1/2) = 0.0803
        assert!((upper_tail(3, 1.0, 1.0) - 0.080_301_4).abs() < 1e-6);
        assert_eq!(upper_tail(0, 5.0, 5.0), 1.0);
        assert_eq!(upper_tail(1, 0.0, 0.0), 0.0, "nothing expected, something seen");
        // Over-dispersion makes the same count less surprising.
        let poisson = upper_tail(30, 10.0, 10.0);
        let nb = upper_tail(30, 10.0, 40.0);
        assert!(nb > poisson * 100.0, "{nb} vs {poisson}");
        assert!(upper_tail(2130, 41.0, 41.0) < 1e-12);
    }

    #[test]
    fn bonferroni_threshold() {
        assert_eq!(bonferroni(0.01, 0), 0.01);
        assert_eq!(bonferroni(0.01, 100), 0.0001);
    }
}
