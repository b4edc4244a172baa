//! A host entry's optional port, as Ansible's `parse_address(…, allow_ranges=True)` splits
//! it: `name:2222` and `[addr]:2222` (brackets for IPv6). A colon inside a range
//! (`web[01:50]`) is not a port separator, and an entry with other colons (a bare IPv6
//! address) has no port. Ansible also checks that the name is a valid hostname or address;
//! here any name is kept as written.

/// The name and the port, if the entry gives one.
pub fn split_port(entry: &str) -> (&str, Option<&str>) {
    // `[::1]:22`, `[web]:22`
    if let Some(inner) = entry.strip_prefix('[')
        && let Some((host, port)) = inner.rsplit_once("]:")
        && is_port(port)
        && !host.contains(']')
    {
        return (host, Some(port));
    }
    let Some((host, port)) = entry.rsplit_once(':') else {
        return (entry, None);
    };
    if is_port(port) && !colon_outside_brackets(host) {
        (host, Some(port))
    } else {
        (entry, None)
    }
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn colon_outside_brackets(s: &str) -> bool {
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::split_port;

    #[test]
    fn ports_are_split_as_ansible_does() {
        assert_eq!(split_port("web1:2222"), ("web1", Some("2222")));
        assert_eq!(split_port("web[01:50]:2222"), ("web[01:50]", Some("2222")));
        assert_eq!(split_port("web[01:50]"), ("web[01:50]", None));
        assert_eq!(split_port("[::1]:22"), ("::1", Some("22")));
        assert_eq!(split_port("fe80::1"), ("fe80::1", None));
        assert_eq!(split_port("web1:"), ("web1:", None));
        assert_eq!(split_port("web1:ssh"), ("web1:ssh", None));
    }
}
