//! Salesforce record ids: 15 case-sensitive characters plus a 3-character checksum.

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CHECKSUM_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 3-character suffix that turns a 15-character id into its 18-character form.
pub fn checksum(id15: &str) -> String {
    let bytes = id15.as_bytes();
    let mut out = String::with_capacity(3);
    for chunk in 0..3 {
        let mut v = 0usize;
        for i in 0..5 {
            if bytes
                .get(chunk * 5 + i)
                .is_some_and(|c| c.is_ascii_uppercase())
            {
                v |= 1 << i;
            }
        }
        out.push(CHECKSUM_CHARS[v] as char);
    }
    out
}

/// Builds an 18-character id from a 3-character key prefix and a sequence number.
pub fn make_id(prefix: &str, n: u64) -> String {
    let mut body = [b'0'; 12];
    let mut v = n;
    for slot in body.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    // Real ids carry a pod/instance marker after the prefix; keep it stable.
    body[0] = b'5';
    body[1] = b'g';
    let mut id15 = String::with_capacity(18);
    id15.push_str(prefix);
    id15.push_str(std::str::from_utf8(&body).unwrap_or("000000000000"));
    let sum = checksum(&id15);
    id15.push_str(&sum);
    id15
}

/// Normalises a 15- or 18-character id to 18 characters; `None` when malformed.
pub fn normalize(id: &str) -> Option<String> {
    if !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(format!("{id}{}", checksum(id))),
        18 => {
            let (body, sum) = id.split_at(15);
            if checksum(body).eq_ignore_ascii_case(sum) {
                Some(format!("{body}{}", checksum(body)))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Key prefix (first three characters) of an id.
pub fn prefix(id: &str) -> &str {
    id.get(..3).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_known_ids() {
        // Known pair from Salesforce documentation examples.
        assert_eq!(checksum("001A000000ZzFDw"), "IAN");
        assert_eq!(
            normalize("001A000000ZzFDw").as_deref(),
            Some("001A000000ZzFDwIAN")
        );
        assert_eq!(
            normalize("001A000000ZzFDwIAN").as_deref(),
            Some("001A000000ZzFDwIAN")
        );
        assert_eq!(normalize("001A000000ZzFDwXXX"), None);
        assert_eq!(normalize("bad"), None);
    }

    #[test]
    fn made_ids_are_valid_and_distinct() {
        let a = make_id("001", 1);
        let b = make_id("001", 2);
        assert_eq!(a.len(), 18);
        assert_ne!(a, b);
        assert_eq!(normalize(&a[..15]).as_deref(), Some(a.as_str()));
        assert!(a.starts_with("0015g"));
    }
}
