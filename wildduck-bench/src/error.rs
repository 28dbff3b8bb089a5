//! One error type: every failure of a benchmark run ends it with a message.

use std::fmt;

#[derive(Debug)]
pub struct BenchError(pub String);

pub type Result<T> = std::result::Result<T, BenchError>;

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        BenchError(format!("i/o: {e}"))
    }
}

/// Shorthand for an error with a formatted message.
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::BenchError(format!($($arg)*))) };
}
pub(crate) use bail;
