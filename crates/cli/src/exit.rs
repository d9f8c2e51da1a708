//! Exit codes scripts can rely on (documented in the README and `--help`).

use std::process::ExitCode;

/// How a command ended. Ordered by gravity: combining two outcomes keeps the
/// graver (`max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// 0: the command ran; nothing to flag.
    Ok,
    /// 1: `--fail-on` severity reached (hunt), a drill scenario failed, a
    /// simulate verification found missing events, `logs status
    /// --fail-on-gaps` found a source off or partial.
    Findings,
    /// 2: usage error (bad flags or arguments, nothing confirmed).
    Usage,
    /// 3: the command ran, but some input was skipped (file or record), or
    /// some account/region failed; details on stderr.
    Partial,
    /// 4: the command failed (bad SQL, AWS error, `--strict` input error, …).
    Error,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Partial => 3,
            ExitStatus::Error => 4,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones_and_order_by_gravity() {
        use ExitStatus::*;
        let all = [Ok, Findings, Usage, Partial, Error];
        assert_eq!(all.map(ExitStatus::code), [0, 1, 2, 3, 4]);
        assert_eq!(Ok.max(Partial), Partial);
        assert_eq!(Findings.max(Error), Error);
    }
}
