//! Writing SQL text: the one place string literals are quoted.

/// A SQL string literal: `'` doubled, the whole wrapped in quotes.
pub fn quote(s: &str) -> String {
    format!("'{}'", escape(s))
}

/// The inside of a SQL string literal (for values spliced into a template
/// that already has the quotes).
pub fn escape(s: &str) -> String {
    s.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes() {
        assert_eq!(super::quote("it's"), "'it''s'");
        assert_eq!(super::escape("a'b"), "a''b");
    }
}
