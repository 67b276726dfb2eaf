//! Who may talk to the daemon: the daemon's own user, root, and members of its group.
use datenator_shared::socket::Peer;
use nix::unistd::{Gid, Group, Uid, User};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub own_uid: u32,
    /// The group whose members may connect, when it exists on this machine.
    pub group: Option<(String, u32)>,
}

impl AccessPolicy {
    /// The policy for a daemon running as the current user with the configured group name.
    /// A group that does not exist is reported and leaves access to the owner and root.
    pub fn for_group(group_name: &str) -> AccessPolicy {
        let group = match Group::from_name(group_name) {
            Ok(Some(g)) => Some((group_name.to_owned(), g.gid.as_raw())),
            Ok(None) => {
                tracing::info!(
                    group = group_name,
                    "group does not exist: only this user and root may use the socket"
                );
                None
            }
            Err(e) => {
                tracing::warn!(group = group_name, "cannot look up group: {e}");
                None
            }
        };
        AccessPolicy {
            own_uid: Uid::current().as_raw(),
            group,
        }
    }

    /// Allows or refuses `peer`; a refusal says who was refused and what to do.
    pub fn check(&self, peer: &Peer) -> Result<(), String> {
        let Some(uid) = peer.uid else {
            return Err("the daemon could not read the credentials of this connection".into());
        };
        if uid == self.own_uid || uid == 0 {
            return Ok(());
        }
        let user = User::from_uid(Uid::from_raw(uid)).ok().flatten();
        let name = user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| format!("uid {uid}"));
        if let Some((group_name, gid)) = &self.group {
            if peer.gid == Some(*gid) {
                return Ok(());
            }
            if let Some(user) = &user
                && let Ok(cname) = std::ffi::CString::new(user.name.clone())
                && let Ok(groups) = nix::unistd::getgrouplist(&cname, user.gid)
                && groups.contains(&Gid::from_raw(*gid))
            {
                return Ok(());
            }
            Err(format!(
                "user {name} (uid {uid}) may not use this daemon: add them to the '{group_name}' group (`usermod -aG {group_name} {name}`) and log in again"
            ))
        } else {
            Err(format!(
                "user {name} (uid {uid}) may not use this daemon: only its own user and root may; create a group, set `group` in the [daemon] section of the config and add the user to it"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer {
            pid: Some(1),
            uid: Some(uid),
            gid: Some(gid),
        }
    }

    #[test]
    fn owner_and_root_pass_strangers_do_not() {
        let p = AccessPolicy {
            own_uid: 1000,
            group: Some(("datenator".into(), 4242)),
        };
        assert!(p.check(&peer(1000, 1000)).is_ok());
        assert!(p.check(&peer(0, 0)).is_ok());
        assert!(p.check(&peer(5555, 4242)).is_ok(), "primary group member");
        let err = p.check(&peer(5555, 5555)).unwrap_err();
        assert!(err.contains("usermod -aG datenator"), "{err}");
        let nogroup = AccessPolicy {
            own_uid: 1000,
            group: None,
        };
        assert!(
            nogroup
                .check(&peer(5555, 4242))
                .unwrap_err()
                .contains("only its own user")
        );
        assert!(
            p.check(&Peer {
                pid: None,
                uid: None,
                gid: None
            })
            .is_err()
        );
    }
}
