//! The Objects screen: an org's Salesforce objects from the metadata cache, filtered as
//! you type (`/`) on name or label.
use datenator_shared::model::{Mapping, ObjectInfo};
use datenator_shared::protocol::{Call, OrgRef};

use super::{App, Cmd, Pending, Screen};
use crate::commands::Action;

/// Something loaded from the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    Loading,
    Loaded(T),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    pub org: String,
    pub objects: Load<Vec<ObjectInfo>>,
    /// The org's mappings (which objects sync, and how).
    pub mappings: Load<Vec<Mapping>>,
    pub filter: String,
    /// Keys go into the filter.
    pub filtering: bool,
    /// Index into [`Objects::visible`].
    pub selected: usize,
}

impl Objects {
    pub fn new(org: String) -> Objects {
        Objects {
            org,
            objects: Load::Loading,
            mappings: Load::Loading,
            filter: String::new(),
            filtering: false,
            selected: 0,
        }
    }

    /// The objects that match the filter (case-insensitive, name or label).
    pub fn visible(&self) -> Vec<&ObjectInfo> {
        let Load::Loaded(all) = &self.objects else {
            return vec![];
        };
        let needle = self.filter.trim().to_lowercase();
        all.iter()
            .filter(|o| {
                needle.is_empty()
                    || o.name.to_lowercase().contains(&needle)
                    || o.label.to_lowercase().contains(&needle)
            })
            .collect()
    }

    /// The mapping of `object`, if it has one.
    pub fn mapping(&self, object: &str) -> Option<&Mapping> {
        match &self.mappings {
            Load::Loaded(list) => list.iter().find(|m| m.object == object),
            _ => None,
        }
    }

    fn clamp(&mut self) {
        let len = self.visible().len();
        self.selected = self.selected.min(len.saturating_sub(1));
    }
}

/// Opens the screen for `org` and asks for its objects.
pub(crate) fn open(app: &mut App, org: String) -> Vec<Cmd> {
    app.screen = Screen::Objects(Objects::new(org.clone()));
    let objects = load(app, org.clone());
    let mappings = app.request(
        Call::MappingList(OrgRef { name: org.clone() }),
        Pending::MappingList { org },
    );
    vec![objects, mappings]
}

fn load(app: &mut App, org: String) -> Cmd {
    app.request(
        Call::MetadataObjects(OrgRef { name: org.clone() }),
        Pending::MetadataObjects { org },
    )
}

fn screen(app: &mut App) -> Option<&mut Objects> {
    match &mut app.screen {
        Screen::Objects(o) => Some(o),
        _ => None,
    }
}

pub(crate) fn apply(app: &mut App, action: Action) -> Vec<Cmd> {
    let Some(o) = screen(app) else { return vec![] };
    let len = o.visible().len();
    match action {
        a if super::step(&mut o.selected, len, a) => {}
        Action::Filter => o.filtering = true,
        Action::Back if o.filtering => o.filtering = false,
        Action::Back if !o.filter.is_empty() => {
            o.filter.clear();
            o.clamp();
        }
        Action::Back => app.screen = Screen::Orgs,
        Action::Type(c) => {
            o.filter.push(c);
            o.selected = 0;
        }
        Action::Backspace => {
            o.filter.pop();
            o.clamp();
        }
        Action::ClearField => {
            o.filter.clear();
            o.clamp();
        }
        Action::DownloadMetadata => {
            let org = o.org.clone();
            return super::download_metadata(app, org);
        }
        Action::OpenRecent => {
            let Some(obj) = o.visible().get(o.selected).map(|x| x.name.clone()) else {
                return vec![];
            };
            if o.mapping(&obj).is_none() {
                let text =
                    format!("{obj} is not mapped, so no change of it is recorded: Enter maps it.");
                app.say(super::Tone::Info, text);
                return vec![];
            }
            let (org, back) = (o.org.clone(), super::Back::Objects(o.clone()));
            return super::recent::open(app, org, obj, back);
        }
        Action::Resync => {
            let Some(obj) = o.visible().get(o.selected).map(|x| x.name.clone()) else {
                return vec![];
            };
            let text = match &o.mappings {
                Load::Loaded(_) if o.mapping(&obj).is_some() => {
                    let org = o.org.clone();
                    return super::resync::ask(app, org, obj);
                }
                Load::Loaded(_) => {
                    format!("{obj} is not mapped, so there is nothing to re-read: Enter maps it.")
                }
                Load::Loading => {
                    "The org's mappings are still loading: try again in a moment.".to_owned()
                }
                Load::Failed(e) => format!(
                    "The org's mappings could not be loaded ({e}): press Esc and open the objects again."
                ),
            };
            app.say(super::Tone::Info, text);
        }
        Action::Submit => {
            let Some(obj) = o.visible().get(o.selected).map(|x| x.name.clone()) else {
                return vec![];
            };
            // Without the stored mapping the editor would start empty and propose to
            // drop what is mapped.
            match &o.mappings {
                Load::Loading => {
                    app.say(
                        super::Tone::Info,
                        "The org's mappings are still loading: try again in a moment.",
                    );
                    return vec![];
                }
                Load::Failed(e) => {
                    let text = format!(
                        "The org's mappings could not be loaded ({e}): press Esc and open the objects again."
                    );
                    app.say(super::Tone::Warn, text);
                    return vec![];
                }
                Load::Loaded(_) => {}
            }
            let org = o.org.clone();
            let existing = o.mapping(&obj).cloned();
            return super::mapping::open(app, org, obj, existing.as_ref());
        }
        _ => {}
    }
    vec![]
}

pub(crate) fn on_loaded(
    app: &mut App,
    org: String,
    result: Result<Vec<ObjectInfo>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(o) = screen(app).filter(|o| o.org == org) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(list) => {
            o.objects = Load::Loaded(list);
            o.clamp();
            Ok(vec![])
        }
        Err(e) => {
            o.objects = Load::Failed(e.clone());
            Err(e)
        }
    }
}

pub(crate) fn on_mappings(
    app: &mut App,
    org: String,
    result: Result<Vec<Mapping>, String>,
) -> Result<Vec<Cmd>, String> {
    let Some(o) = screen(app).filter(|o| o.org == org) else {
        return result.map(|_| vec![]);
    };
    match result {
        Ok(list) => {
            o.mappings = Load::Loaded(list);
            Ok(vec![])
        }
        Err(e) => {
            o.mappings = Load::Failed(e.clone());
            Err(e)
        }
    }
}

/// Metadata of `org` was downloaded: reload the list if it is on show.
pub(crate) fn on_metadata(app: &mut App, org: &str) -> Vec<Cmd> {
    match screen(app) {
        Some(o) if o.org == org => vec![load(app, org.to_owned())],
        _ => vec![],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::tests::{key, only_request, type_str, with_orgs};
    use crate::app::{Msg, update};
    use crossterm::event::KeyCode;

    pub(crate) fn object(name: &str, label: &str) -> ObjectInfo {
        ObjectInfo {
            name: name.into(),
            label: label.into(),
            custom: name.ends_with("__c"),
            createable: true,
            updateable: true,
            deletable: true,
            fields: Some(12),
        }
    }

    fn shown(app: &App) -> &Objects {
        match &app.screen {
            Screen::Objects(o) => o,
            s => panic!("not on Objects: {s:?}"),
        }
    }

    fn opened() -> App {
        let mut app = with_orgs(&["acme"]);
        let cmds = update(&mut app, key(KeyCode::Enter));
        assert_eq!(cmds.len(), 2, "objects and mappings: {cmds:?}");
        let (id, call) = only_request(cmds[..1].to_vec());
        assert_eq!(
            call,
            Call::MetadataObjects(OrgRef {
                name: "acme".into()
            })
        );
        assert_eq!(shown(&app).objects, Load::Loading);
        let list = vec![
            object("Account", "Account"),
            object("AccountContactRelation", "Account Contact Relationship"),
            object("Contact", "Contact"),
            object("Invoice__c", "Invoice"),
            object("Opportunity", "Opportunity"),
        ];
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(list).unwrap()),
            },
        );
        app
    }

    #[test]
    fn filter_as_you_type_matches_name_or_label_and_esc_steps_back() {
        let mut app = opened();
        assert_eq!(shown(&app).visible().len(), 5);
        update(&mut app, key(KeyCode::Char('/')));
        type_str(&mut app, "acc");
        let names: Vec<_> = shown(&app)
            .visible()
            .iter()
            .map(|o| o.name.clone())
            .collect();
        assert_eq!(names, ["Account", "AccountContactRelation"]);
        // j is text while filtering; arrows still move.
        type_str(&mut app, "j");
        assert!(shown(&app).visible().is_empty());
        update(&mut app, key(KeyCode::Backspace));
        update(&mut app, key(KeyCode::Down));
        assert_eq!(shown(&app).selected, 1);
        // Label match: "invoice" finds Invoice__c.
        update(
            &mut app,
            Msg::Key(crossterm::event::KeyEvent::new(
                KeyCode::Char('u'),
                crossterm::event::KeyModifiers::CONTROL,
            )),
        );
        type_str(&mut app, "INVOICE");
        assert_eq!(shown(&app).visible()[0].name, "Invoice__c");
        // Esc ends filtering, then clears the filter, then goes back.
        update(&mut app, key(KeyCode::Esc));
        assert!(!shown(&app).filtering);
        assert_eq!(shown(&app).filter, "INVOICE");
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(shown(&app).filter, "");
        update(&mut app, key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Orgs);
    }

    #[test]
    fn the_editor_waits_for_the_mappings() {
        let mut app = with_orgs(&["acme"]);
        let cmds = update(&mut app, key(KeyCode::Enter));
        let (id, _) = only_request(cmds[..1].to_vec());
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(serde_json::to_value(vec![object("Account", "Account")]).unwrap()),
            },
        );
        assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
        assert!(app.notice.as_ref().unwrap().text.contains("still loading"));
        update(
            &mut app,
            Msg::Reply {
                id: id + 1,
                result: Err("store busy".into()),
            },
        );
        assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![]);
        assert!(
            app.notice
                .as_ref()
                .unwrap()
                .text
                .contains("could not be loaded")
        );
    }

    #[test]
    fn vim_keys_move_when_not_filtering() {
        let mut app = opened();
        type_str(&mut app, "jjG");
        assert_eq!(shown(&app).selected, 4);
        type_str(&mut app, "kg");
        assert_eq!(shown(&app).selected, 0);
    }

    #[test]
    fn downloading_metadata_here_reloads_the_list() {
        let mut app = opened();
        let (id, call) = only_request(update(&mut app, key(KeyCode::Char('m'))));
        assert_eq!(
            call,
            Call::MetadataDownload(OrgRef {
                name: "acme".into()
            })
        );
        let report = serde_json::json!({
            "objects": 1, "described": 1, "added": [], "removed": [],
            "changed": [], "api_calls": 2, "downloaded_at": "2026-11-24T12:00:00Z"
        });
        let (_, call) = only_request(update(
            &mut app,
            Msg::Reply {
                id,
                result: Ok(report),
            },
        ));
        assert_eq!(
            call,
            Call::MetadataObjects(OrgRef {
                name: "acme".into()
            })
        );
    }

    #[test]
    fn a_load_error_is_kept_on_screen_and_in_the_status_line() {
        let mut app = with_orgs(&["acme"]);
        let cmds = update(&mut app, key(KeyCode::Char('o')));
        let (id, _) = only_request(cmds[..1].to_vec());
        update(
            &mut app,
            Msg::Reply {
                id,
                result: Err("no such org".into()),
            },
        );
        assert_eq!(shown(&app).objects, Load::Failed("no such org".into()));
        assert!(app.notice.unwrap().text.contains("no such org"));
    }
}
