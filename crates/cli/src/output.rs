//! What the process writes besides what `render` shows: its log, its final error, and how it
//! ends when the reader of its output goes away. Whatever text they carry (a peer's, a relay's,
//! a file name) reaches the terminal escaped.

use std::fmt::Write as _;

use crate::{exit, render};

/// Prints `error` and its causes on standard error, each line escaped like any untrusted text
/// (an error may quote what a peer sent: a codebook's key, a card's field), line breaks kept.
pub(crate) fn report(error: &anyhow::Error) {
    let shown: Vec<String> = chain(error).split('\n').map(render::text).collect();
    eprintln!("error: {}", shown.join("\n"));
}

/// Prints a usage error as the argument parser wrote it (`text`, without its colours) on
/// standard error, each line escaped: it quotes an argument as typed, which may hold a
/// terminal's escape sequences (that a pipe would strip, leaving a valid value named invalid).
pub(crate) fn report_usage(text: &str) {
    let shown: Vec<String> = text.split('\n').map(render::text).collect();
    eprint!("{}", shown.join("\n"));
}

/// When the reader of standard output goes away (`parley inbox | head`), printing fails with
/// a broken pipe, which the standard library's printing turns into a panic: the command ends
/// there quietly, with the code a shell gives a command ended by SIGPIPE, as other tools do.
pub(crate) fn quiet_when_output_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = (payload.downcast_ref::<String>().map(String::as_str))
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(exit::OUTPUT_CLOSED.into());
        }
        report(info);
    }));
}

/// Whether `error` is standard output's reader having gone away, as a command that writes to
/// it with `write!` meets it.
pub(crate) fn is_output_closed(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
}

/// An error and its causes, outermost first, as anyhow's `{:#}` joins them, but a cause the
/// message before already ends with (an error that quotes its source) is said once.
fn chain(error: &anyhow::Error) -> String {
    let mut shown = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if shown.ends_with(&message) {
            continue;
        }
        if !shown.is_empty() {
            shown.push_str(": ");
        }
        shown.push_str(&message);
    }
    shown
}

pub(crate) fn init_logging(daemon: bool) {
    let default = if daemon { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PARLEY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Nothing logged, whoever chose it (a file name in a drop folder, a relay's answer), may
    // reach a terminal raw or forge a line, now or when a log file is read later: every
    // event is escaped as it is written, and so not coloured.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Escaping(std::io::stderr()))
        .with_ansi(false)
        .init();
}

/// Writes log events (one per write: the formatter writes each whole) with every character
/// that could drive a display escaped but the tab and the newline that ends the event: C0
/// controls, DEL and a newline within the event as `\x..`; C1 controls, the Unicode controls
/// that reorder text (bidirectional overrides, embeddings, isolates, marks) and the line and
/// paragraph separators as `\u{..}`, as `render` shows them. Bytes that are not UTF-8 are
/// written as U+FFFD.
struct Escaping<W>(W);

impl<W: std::io::Write> std::io::Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, "\n"),
            None => (buf, ""),
        };
        let body = String::from_utf8_lossy(body);
        let mut out = String::with_capacity(body.len() + end.len());
        for c in body.chars() {
            match c {
                '\t' => out.push(c),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => parley_proto::names::escape_into(&mut out, c.encode_utf8(&mut [0; 4]), false),
            }
        }
        out.push_str(end);
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::chain;

    /// An error that quotes its source in its own message, as many do.
    #[derive(Debug)]
    struct Quoting {
        source: std::io::Error,
    }

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "reading relay.toml: {}", self.source)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_log_line_reaches_its_file_without_control_characters() {
        use std::io::Write as _;

        let mut escaped = super::Escaping(Vec::new());
        let line = "file=\"a\u{1b}[31m\u{7}\u{9b}b\u{7f}\" é 北\tok\u{202e}kO\u{2028}\n";
        assert_eq!(escaped.write(line.as_bytes()).unwrap(), line.len());
        // A relay's reason that would forge a line of its own, or rewrite this one.
        let forged = "reason=refused\n2026-12-04T00:00:00Z  INFO all is well\rX\n";
        assert_eq!(escaped.write(forged.as_bytes()).unwrap(), forged.len());
        assert_eq!(
            String::from_utf8(escaped.0).unwrap(),
            "file=\"a\\x1b[31m\\x07\\u{9b}b\\x7f\" é 北\tok\\u{202e}kO\\u{2028}\n\
             reason=refused\\x0a2026-12-04T00:00:00Z  INFO all is well\\x0dX\n"
        );
    }

    #[test]
    fn a_cause_already_quoted_is_said_once() {
        let quoting = Quoting {
            source: std::io::Error::other("no such file"),
        };
        let error = anyhow::Error::new(quoting).context("opening the relay");
        assert_eq!(
            chain(&error),
            "opening the relay: reading relay.toml: no such file"
        );
        assert_eq!(
            format!("{error:#}"),
            "opening the relay: reading relay.toml: no such file: no such file",
            "what anyhow alone would say"
        );
    }
}
