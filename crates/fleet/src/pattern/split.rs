//! A pattern's terms, as Ansible's `split_host_pattern` finds them: with a comma, the
//! commas separate; without one, a single host address (a name with ranges such as
//! `web[0:4]`, `web1:2222`, an IPv6 address) is one term, and anything else is split at
//! colons outside brackets (`web:&prod:!web3`). Then `order_patterns`: unions first, then
//! `&` intersections, then `!` exclusions, whatever the written order; only `&` and `!`
//! terms means `all` first.

use crate::inventory::address_port;

/// The terms of `pattern` in the order they apply.
pub fn terms(pattern: &str) -> Vec<String> {
    let written: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(|t| t.trim().to_owned()).collect()
    } else if is_address(pattern.trim()) {
        vec![pattern.trim().to_owned()]
    } else {
        colon_separated(pattern)
    };
    let written: Vec<String> = written.into_iter().filter(|t| !t.is_empty()).collect();
    let mut ordered: Vec<String> = written
        .iter()
        .filter(|t| !t.starts_with(['&', '!']))
        .cloned()
        .collect();
    if ordered.is_empty() && !written.is_empty() {
        ordered.push("all".to_owned());
    }
    ordered.extend(written.iter().filter(|t| t.starts_with('&')).cloned());
    ordered.extend(written.iter().filter(|t| t.starts_with('!')).cloned());
    ordered
}

/// Ansible's `re.findall(r'(?:[^\s:\[\]]|\[[^\]]*\])+', pattern)`: runs of anything but
/// whitespace, `:` and brackets, or of whole `[...]` groups.
fn colon_separated(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        loop {
            match chars.get(i) {
                Some(c) if !c.is_whitespace() && !matches!(c, ':' | '[' | ']') => i += 1,
                Some('[') => match chars[i + 1..].iter().position(|&c| c == ']') {
                    Some(close) => i += close + 2,
                    None => break,
                },
                _ => break,
            }
        }
        if i > start {
            out.push(chars[start..i].iter().collect());
        } else {
            i += 1;
        }
    }
    out
}

/// Whether Ansible's `parse_address(pattern, allow_ranges=True)` accepts the whole pattern:
/// a hostname (letters, digits, `_`, `-`, `.`, ranges) or an IPv6 address, with an
/// optional port.
fn is_address(pattern: &str) -> bool {
    let (host, _) = address_port(pattern);
    is_hostname(host) || is_ipv6(host)
}

fn is_hostname(host: &str) -> bool {
    let mut chars = host.chars();
    let mut any = false;
    while let Some(c) = chars.next() {
        match c {
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') => any = true,
            '[' => loop {
                match chars.next() {
                    Some(']') => break,
                    Some(c) if c.is_ascii_alphanumeric() || c == ':' || c == '-' => {}
                    _ => return false,
                }
            },
            _ => return false,
        }
    }
    any
}

fn is_ipv6(host: &str) -> bool {
    host.matches(':').count() >= 2
        && host
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
}

#[cfg(test)]
mod tests {
    use super::terms;

    #[test]
    fn terms_split_and_ordered_as_ansible_does() {
        assert_eq!(terms("web:db"), ["web", "db"]);
        assert_eq!(terms("web, db"), ["web", "db"]);
        assert_eq!(terms("web:!web3:&prod"), ["web", "&prod", "!web3"]);
        assert_eq!(terms("!web3"), ["all", "!web3"]);
        assert_eq!(terms("&prod,!web3"), ["all", "&prod", "!web3"]);
        assert_eq!(terms("web[0:4]"), ["web[0:4]"]);
        assert_eq!(terms("web[0:4]:db[-1]"), ["web[0:4]", "db[-1]"]);
        assert_eq!(terms("web1:2222"), ["web1:2222"]);
        assert_eq!(terms("fe80::1"), ["fe80::1"]);
        assert_eq!(terms("~web.*:db"), ["~web.*", "db"]);
        assert_eq!(terms("  "), Vec::<String>::new());
        assert_eq!(terms("a b"), ["a", "b"]);
    }
}
