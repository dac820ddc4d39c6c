//! Stable sorting through one shared copy of the standard library's sort. Every `sort_by` with
//! its own element type and comparison compiles its own copy of the standard sort (quicksort,
//! driftsort's merges and small sorts: 3 KB of wasm or more each, 14 stable and 3 unstable
//! copies in the every-capability Worker; bench/profile-notes.md). The sorts off the hot path
//! (config plans, headers and query pairs of the rarer features, metrics exports) go through
//! [`sort_by`] instead: element positions are sorted with a `dyn` comparison, then the
//! elements are moved into that order. The JSON parser's and transcoder's sorts keep their own
//! copies, as does the backend URL's query string: they run on every answer or call.

use std::cmp::Ordering;

/// Sorts `items` stably by `cmp` (equal elements keep their order), as `slice::sort_by`
/// does, in O(n log n) comparisons.
pub(crate) fn sort_by<T>(items: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    if items.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_positions(&mut order, &|a, b| match (items.get(a), items.get(b)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => Ordering::Equal,
    });
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// Sorts `items` stably by their own order.
pub(crate) fn sort<T: Ord>(items: &mut Vec<T>) {
    sort_by(items, T::cmp);
}

/// The one copy of the standard sort: positions compared through `cmp`.
#[inline(never)]
fn sort_positions(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_the_standard_stable_sort_does() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..200 {
            let items: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Few distinct keys: equal keys must keep their order (the second field).
                    ((x % 7) as u8, i)
                })
                .collect();
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut std = items.clone();
            std.sort_by_key(|a| a.0);
            assert_eq!(ours, std, "{len}");
            let mut reversed = items.clone();
            sort_by(&mut reversed, |a, b| b.0.cmp(&a.0));
            std.sort_by_key(|b| std::cmp::Reverse(b.0));
            assert_eq!(reversed, std, "{len}");
            let mut whole = items;
            sort(&mut whole);
            assert!(whole.windows(2).all(|w| w[0] <= w[1]), "{len}");
        }
    }
}
