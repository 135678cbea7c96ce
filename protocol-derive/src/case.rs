//! Rename rules, with serde's names and semantics (variants are PascalCase, fields snake_case).

use std::fmt;

/// One of serde's `rename_all` rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

static RULES: &[(&str, RenameRule)] = &[
    ("lowercase", RenameRule::Lower),
    ("UPPERCASE", RenameRule::Upper),
    ("PascalCase", RenameRule::Pascal),
    ("camelCase", RenameRule::Camel),
    ("snake_case", RenameRule::Snake),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
    ("kebab-case", RenameRule::Kebab),
    ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
];

impl RenameRule {
    pub fn from_str(s: &str) -> Result<Self, ParseError<'_>> {
        RULES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, r)| *r)
            .ok_or(ParseError { unknown: s })
    }

    /// The serde spelling of this rule, for forwarding it to generated structs.
    pub fn name(self) -> &'static str {
        RULES
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(n, _)| *n)
            .unwrap_or("snake_case")
    }

    /// Apply to a PascalCase variant name.
    pub fn apply_to_variant(self, variant: &str) -> String {
        match self {
            RenameRule::Pascal => variant.to_owned(),
            RenameRule::Lower => variant.to_ascii_lowercase(),
            RenameRule::Upper => variant.to_ascii_uppercase(),
            RenameRule::Camel => {
                let mut chars = variant.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Snake => to_snake(variant),
            RenameRule::ScreamingSnake => to_snake(variant).to_ascii_uppercase(),
            RenameRule::Kebab => to_snake(variant).replace('_', "-"),
            RenameRule::ScreamingKebab => to_snake(variant).to_ascii_uppercase().replace('_', "-"),
        }
    }

    /// Apply to a snake_case field name.
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => {
                let mut pascal = String::new();
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(ch);
                    }
                }
                pascal
            }
            RenameRule::Camel => {
                let pascal = RenameRule::Pascal.apply_to_field(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }
}

/// PascalCase to snake_case, as serde does it.
pub fn to_snake(pascal: &str) -> String {
    let mut snake = String::new();
    for (i, ch) in pascal.char_indices() {
        if i > 0 && ch.is_uppercase() {
            snake.push('_');
        }
        snake.push(ch.to_ascii_lowercase());
    }
    snake
}

pub struct ParseError<'a> {
    unknown: &'a str,
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown rename rule `{}`, expected one of: ",
            self.unknown
        )?;
        for (i, (name, _)) in RULES.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_and_fields() {
        assert_eq!(
            RenameRule::Snake.apply_to_variant("TypingStarted"),
            "typing_started"
        );
        assert_eq!(
            RenameRule::Kebab.apply_to_variant("TypingStarted"),
            "typing-started"
        );
        assert_eq!(
            RenameRule::Camel.apply_to_variant("TypingStarted"),
            "typingStarted"
        );
        assert_eq!(RenameRule::Camel.apply_to_field("message_id"), "messageId");
        assert_eq!(RenameRule::Pascal.apply_to_field("message_id"), "MessageId");
        assert_eq!(
            RenameRule::ScreamingKebab.apply_to_field("message_id"),
            "MESSAGE-ID"
        );
        assert!(RenameRule::from_str("camelcase").is_err());
    }
}
