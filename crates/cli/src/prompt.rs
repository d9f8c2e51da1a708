//! The one way irprep asks before it changes anything or calls AWS.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

/// `--yes`, or ask `question` on a terminal. Without a terminal and without
/// `--yes` nothing is done: the error (a usage error, exit code 2) says how
/// to `what` without one. Returns whether the answer was yes.
pub fn confirm(question: &str, yes: bool, what: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(crate::commands::usage(format!(
            "not done: pass --yes to {what} without a terminal (or --dry-run to only plan)"
        )));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Ask on the terminal for `expected` to be typed back (for what cannot be
/// undone). No terminal, or anything else typed: false.
pub fn type_to_confirm(question: &str, expected: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == expected)
}
