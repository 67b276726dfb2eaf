//! A keyboard form: text fields (plain or masked), choices cycled with ←/→ or Space, and
//! buttons. Fields can be hidden (e.g. the SQLite path for a PostgreSQL datasource);
//! moving the focus skips hidden ones.

/// What a field holds and how it is edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Shown as `•` characters.
    Secret,
    /// One of the options, chosen by index.
    Choice(&'static [&'static str]),
    Button,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub id: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub value: String,
    pub choice: usize,
    /// A dim explanation shown next to the field.
    pub hint: String,
    pub visible: bool,
}

impl Field {
    fn new(id: &'static str, label: &'static str, kind: Kind) -> Field {
        Field {
            id,
            label,
            kind,
            value: String::new(),
            choice: 0,
            hint: String::new(),
            visible: true,
        }
    }
    pub fn text(id: &'static str, label: &'static str) -> Field {
        Field::new(id, label, Kind::Text)
    }
    pub fn secret(id: &'static str, label: &'static str) -> Field {
        Field::new(id, label, Kind::Secret)
    }
    pub fn choice(
        id: &'static str,
        label: &'static str,
        options: &'static [&'static str],
    ) -> Field {
        Field::new(id, label, Kind::Choice(options))
    }
    pub fn button(id: &'static str, label: &'static str) -> Field {
        Field::new(id, label, Kind::Button)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Field {
        self.hint = hint.into();
        self
    }
    pub fn is_text(&self) -> bool {
        matches!(self.kind, Kind::Text | Kind::Secret)
    }
    /// The text as displayed: secrets masked, choices by name.
    pub fn display(&self) -> String {
        match &self.kind {
            Kind::Text => self.value.clone(),
            Kind::Secret => "•".repeat(self.value.chars().count()),
            Kind::Choice(options) => options.get(self.choice).copied().unwrap_or("").into(),
            Kind::Button => self.label.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
}

impl Form {
    pub fn new(fields: Vec<Field>) -> Form {
        let mut form = Form { fields, focus: 0 };
        form.fix_focus();
        form
    }

    #[expect(
        clippy::panic,
        reason = "field ids are constants of the form's own code, never data: a wrong one is a bug to see at once"
    )]
    fn index(&self, id: &str) -> usize {
        self.fields
            .iter()
            .position(|f| f.id == id)
            .unwrap_or_else(|| panic!("no field {id}"))
    }

    pub fn field(&self, id: &str) -> &Field {
        &self.fields[self.index(id)]
    }

    pub fn field_mut(&mut self, id: &str) -> &mut Field {
        let i = self.index(id);
        &mut self.fields[i]
    }

    pub fn value(&self, id: &str) -> &str {
        &self.field(id).value
    }

    /// The value with surrounding blanks removed.
    pub fn trimmed(&self, id: &str) -> &str {
        self.field(id).value.trim()
    }

    pub fn set_value(&mut self, id: &str, value: impl Into<String>) {
        self.field_mut(id).value = value.into();
    }

    pub fn choice(&self, id: &str) -> usize {
        self.field(id).choice
    }

    pub fn set_choice(&mut self, id: &str, choice: usize) {
        self.field_mut(id).choice = choice;
    }

    pub fn set_visible(&mut self, id: &str, visible: bool) {
        self.field_mut(id).visible = visible;
        self.fix_focus();
    }

    pub fn focused(&self) -> &Field {
        &self.fields[self.focus]
    }

    pub fn focused_id(&self) -> &'static str {
        self.focused().id
    }

    pub fn focus_on(&mut self, id: &str) {
        self.focus = self.index(id);
        self.fix_focus();
    }

    /// Whether typed characters go into the focused field.
    pub fn typing(&self) -> bool {
        self.focused().is_text()
    }

    fn fix_focus(&mut self) {
        if !self.fields.get(self.focus).is_some_and(|f| f.visible) {
            self.next();
        }
    }

    fn step(&mut self, forward: bool) {
        let n = self.fields.len();
        for k in 1..=n {
            let i = if forward {
                (self.focus + k) % n
            } else {
                (self.focus + n - k) % n
            };
            if self.fields[i].visible {
                self.focus = i;
                return;
            }
        }
    }

    pub fn next(&mut self) {
        self.step(true);
    }

    pub fn prev(&mut self) {
        self.step(false);
    }

    /// Types `c` into a focused text field; false when the focus is elsewhere.
    pub fn type_char(&mut self, c: char) -> bool {
        let i = self.focus;
        let field = &mut self.fields[i];
        if field.is_text() {
            field.value.push(c);
            true
        } else {
            false
        }
    }

    pub fn backspace(&mut self) {
        let i = self.focus;
        let field = &mut self.fields[i];
        if field.is_text() {
            field.value.pop();
        }
    }

    pub fn clear_focused(&mut self) {
        let i = self.focus;
        let field = &mut self.fields[i];
        if field.is_text() {
            field.value.clear();
        }
    }

    /// Moves a focused choice by `delta` (wrapping); false when the focus is elsewhere.
    pub fn cycle(&mut self, delta: isize) -> bool {
        let i = self.focus;
        let field = &mut self.fields[i];
        if let Kind::Choice(options) = field.kind {
            let n = options.len() as isize;
            field.choice = (field.choice as isize + delta).rem_euclid(n) as usize;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form::new(vec![
            Field::text("a", "A"),
            Field::choice("b", "B", &["x", "y", "z"]),
            Field::secret("c", "C"),
            Field::button("go", "Go"),
        ])
    }

    #[test]
    fn focus_wraps_and_skips_hidden_fields() {
        let mut f = form();
        f.set_visible("b", false);
        f.next();
        assert_eq!(f.focused_id(), "c");
        f.next();
        f.next();
        assert_eq!(f.focused_id(), "a");
        f.prev();
        assert_eq!(f.focused_id(), "go");
        // Hiding the focused field moves the focus on.
        f.focus_on("c");
        f.set_visible("c", false);
        assert_eq!(f.focused_id(), "go");
    }

    #[test]
    fn typing_goes_only_into_text_fields_and_secrets_are_masked() {
        let mut f = form();
        assert!(f.type_char('h'));
        f.focus_on("b");
        assert!(!f.type_char('h'));
        assert!(f.cycle(-1));
        assert_eq!(f.field("b").display(), "z");
        f.focus_on("c");
        f.type_char('p');
        f.type_char('w');
        assert_eq!(f.field("c").display(), "••");
        f.backspace();
        assert_eq!(f.value("c"), "p");
        assert_eq!(f.value("a"), "h");
    }
}
