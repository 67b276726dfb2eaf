//! Which live daemon runs an org: the operator's pin when that daemon is live, else
//! rendezvous (highest random weight) hashing over the live members. Every daemon computes
//! the same answer from the same member list, and a member joining or leaving moves only
//! the orgs whose highest weight it has (about 1/n of them).

/// The member that should run `org` among `live`, if any is live.
pub fn owner<'a>(org: &str, pinned: Option<&str>, live: &'a [String]) -> Option<&'a str> {
    if let Some(p) = pinned
        && let Some(m) = live.iter().find(|m| m.as_str() == p)
    {
        return Some(m);
    }
    live.iter()
        .max_by_key(|m| (weight(m, org), m.as_str()))
        .map(String::as_str)
}

/// The weight of `member` for `org`: FNV-1a over both, then a 64-bit finalizer. Written
/// here, not `std`'s hasher, so daemons of different builds agree.
fn weight(member: &str, org: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in member.bytes().chain([0u8]).chain(org.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finalizer spreads FNV's weak low bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn place(orgs: &[String], live: &[String]) -> Vec<String> {
        orgs.iter()
            .map(|o| owner(o, None, live).unwrap().to_owned())
            .collect()
    }

    #[test]
    fn orgs_spread_and_a_leaving_member_moves_only_its_own() {
        let orgs: Vec<String> = (0..300).map(|i| format!("org{i}")).collect();
        let three = members(&["a", "b", "c"]);
        let before = place(&orgs, &three);
        for m in &three {
            let n = before.iter().filter(|o| *o == m).count();
            assert!((60..=140).contains(&n), "{m} runs {n} of 300");
        }
        let two = members(&["a", "c"]);
        let after = place(&orgs, &two);
        for (b, a) in before.iter().zip(&after) {
            if b != "b" {
                assert_eq!(a, b, "an org of a live member moved");
            }
        }
        // A joining member takes a share, and only moves orgs to itself.
        let four = members(&["a", "b", "c", "d"]);
        let joined = place(&orgs, &four);
        let moved = before.iter().zip(&joined).filter(|(b, j)| b != j).count();
        assert!(joined.iter().zip(&before).all(|(j, b)| j == b || j == "d"));
        assert!((40..=110).contains(&moved), "{moved} moved");
    }

    #[test]
    fn the_order_of_members_does_not_matter_and_a_live_pin_wins() {
        let a = members(&["x", "y", "z"]);
        let b = members(&["z", "x", "y"]);
        for i in 0..50 {
            let org = format!("o{i}");
            assert_eq!(owner(&org, None, &a), owner(&org, None, &b));
        }
        assert_eq!(owner("o1", Some("y"), &a), Some("y"));
        // A pin to a daemon that is not live falls back to the hash.
        assert_eq!(owner("o1", Some("gone"), &a), owner("o1", None, &a));
        assert_eq!(owner("o1", None, &[]), None);
    }
}
