//! CPU lists from sysfs (`/sys/devices/system/cpu/{possible,online}`): "0-1,3" → [0, 1, 3].

use std::sync::OnceLock;

/// Parses a kernel CPU list ("0-3,5,7-8"). Returns `None` on malformed input.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

fn read_list(path: &str) -> std::io::Result<Vec<u32>> {
    let text = std::fs::read_to_string(path)?;
    parse_cpu_list(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{path}: malformed CPU list {text:?}"),
        )
    })
}

/// CPUs the kernel could ever bring online; per-CPU map values have one slot per possible CPU
/// up to the highest possible CPU id.
pub fn possible_cpus() -> std::io::Result<Vec<u32>> {
    read_list("/sys/devices/system/cpu/possible")
}

/// CPUs online now.
pub fn online_cpus() -> std::io::Result<Vec<u32>> {
    read_list("/sys/devices/system/cpu/online")
}

/// Number of value slots in a per-CPU map: highest possible CPU id + 1 (cached).
pub fn nr_possible_cpus() -> std::io::Result<usize> {
    static N: OnceLock<usize> = OnceLock::new();
    if let Some(n) = N.get() {
        return Ok(*n);
    }
    let n = possible_cpus()?
        .into_iter()
        .max()
        .map_or(1, |m| m as usize + 1);
    Ok(*N.get_or_init(|| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-1,3\n"), Some(vec![0, 1, 3]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("2-4,7,9-10"), Some(vec![2, 3, 4, 7, 9, 10]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }
}
