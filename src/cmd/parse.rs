//! Value parsers of arguments: a typo is refused while the command line is parsed, with
//! clap's usage line, before any node or API server is dialled.

use crate::topology::{Endpoint, SLOT_COUNT};

/// `HOST:PORT` (names are resolved later, when the nodes are dialled).
pub fn endpoint(typed: &str) -> Result<Endpoint, String> {
    typed.parse().map_err(|e| format!("{e}"))
}

/// A number of slots to move: 1 to 16384.
pub fn slot_count(typed: &str) -> Result<usize, String> {
    match typed.parse::<usize>() {
        Ok(n) if (1..=usize::from(SLOT_COUNT)).contains(&n) => Ok(n),
        _ => Err(format!("N must be a whole number from 1 to {SLOT_COUNT}")),
    }
}

/// A percentage, 0 to 100.
pub fn percent(typed: &str) -> Result<f64, String> {
    match typed.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err("PCT must be a number from 0 to 100".into()),
    }
}

/// A count of at least one (keys per batch).
pub fn positive(typed: &str) -> Result<usize, String> {
    match typed.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_a_host_and_a_port() {
        assert_eq!(
            endpoint("10.0.0.1:6379").unwrap(),
            Endpoint::new("10.0.0.1", 6379)
        );
        assert_eq!(endpoint("redis-0:7000").unwrap().port, 7000);
        for bad in ["10.0.0.1", ":6379", "10.0.0.1:0", "10.0.0.1:99999", "h:x"] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_and_percentages_are_bounded() {
        assert_eq!(slot_count("16384"), Ok(16384));
        for bad in ["0", "16385", "-1", "ten"] {
            assert!(slot_count(bad).is_err(), "{bad}");
        }
        assert_eq!(percent("2.5"), Ok(2.5));
        for bad in ["-1", "101", "NaN", "x"] {
            assert!(percent(bad).is_err(), "{bad}");
        }
        assert_eq!(positive("1"), Ok(1));
        assert!(positive("0").is_err());
    }
}
