//! Debian version ordering (deb-version(7)), as dpkg compares them: epoch, then
//! upstream version, then revision, each compared in alternating runs of
//! non-digits (where `~` sorts before everything, even the end, and letters sort
//! before other characters) and digits (compared as numbers).

use std::cmp::Ordering;

pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's weight of one character in a non-digit run.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let cb = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ca != cb {
                return ca.cmp(&cb);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run, compared as a number (leading zeros ignored).
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        let sj = j;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let by_len = da.len().cmp(&db.len());
        if by_len != Ordering::Equal {
            return by_len;
        }
        let by_digits = da.cmp(db);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn orders_like_dpkg() {
        // Each pair checked with `dpkg --compare-versions A lt|eq|gt B` on Debian 12.
        for (a, b, want) in [
            ("1.31.0-1", "1.31.1-1", Less),
            ("1.31.10-1", "1.31.9-1", Greater),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1.0", "1.0-0", Equal),
            ("1:0.1", "2.0", Greater),
            ("5.2.15-2+b8", "5.2.15-2+b13", Less),
            ("1.6.20~ds1-1+deb12u3", "1.6.20~ds1-1+deb12u2", Greater),
            ("1.6.20~ds1-1+b1", "1.6.20-1", Less),
            ("1.0a", "1.0+", Less),
            ("1.0", "1.0a", Less),
            ("1.01", "1.1", Equal),
            ("2.36-9+deb12u14", "2.36-9+deb12u9", Greater),
            ("1.0~", "1.0", Less),
            ("1.0~~", "1.0~", Less),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
