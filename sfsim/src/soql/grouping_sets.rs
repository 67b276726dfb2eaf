//! `GROUP BY ROLLUP(a, b)` and `GROUP BY CUBE(a, b)`: the grouping sets whose rows an
//! aggregate query answers — every group, plus subtotals over the rolled-up groups and a
//! grand total.

use crate::value::Value;
use std::cmp::Ordering;

/// Per grouping set, which of `n` groups it keeps. ROLLUP drops groups from the right
/// (a, b → [a b], [a], []); CUBE keeps every combination, the fuller sets first.
pub fn sets(mode: Option<&str>, n: usize) -> Vec<Vec<bool>> {
    match mode {
        Some("ROLLUP") => (0..=n)
            .rev()
            .map(|k| (0..n).map(|i| i < k).collect())
            .collect(),
        Some("CUBE") => {
            let mut all: Vec<Vec<bool>> = (0..1usize << n)
                .rev()
                .map(|mask| (0..n).map(|i| mask & (1 << (n - 1 - i)) != 0).collect())
                .collect();
            all.sort_by_key(|s| std::cmp::Reverse(s.iter().filter(|k| **k).count()));
            all
        }
        _ => vec![vec![true; n]],
    }
}

/// Orders group values with nulls (subtotals) last.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.compare(b).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_and_cube_sets() {
        let (t, f) = (true, false);
        assert_eq!(sets(None, 2), vec![vec![t, t]]);
        assert_eq!(
            sets(Some("ROLLUP"), 2),
            vec![vec![t, t], vec![t, f], vec![f, f]]
        );
        assert_eq!(
            sets(Some("CUBE"), 2),
            vec![vec![t, t], vec![t, f], vec![f, t], vec![f, f]]
        );
    }
}
