//! Process exit codes, one per class of error (docs/cli.md has the table).

use parley_station::ErrorClass;

/// Success.
pub const OK: u8 = 0;
/// A local failure: disk, store, configuration, a file.
pub const LOCAL: u8 = 1;
/// The command line is wrong (reported by the argument parser).
pub const USAGE: u8 = 2;
/// The request was refused: bad input, an unknown peer, a limit. Nothing was changed.
pub const OPERATOR: u8 = 3;
/// Something from another party failed verification: a card, a fingerprint, a bundle, a
/// transcript. Nothing was changed.
pub const REFUSED: u8 = 4;
/// The daemon could not be reached: nothing was done.
pub const UNREACHABLE: u8 = 5;
/// The daemon was stopping: it refused the request, or stopped before answering it (then
/// the request may have been carried out), or stopped while its events were followed.
pub const STOPPING: u8 = 6;
/// The reader of standard output closed it (`parley inbox | head`): the command stopped
/// printing there, as a command ended by SIGPIPE does (128 + 13).
pub const OUTPUT_CLOSED: u8 = 141;

/// The exit code of an error class.
pub fn of(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Operator => OPERATOR,
        ErrorClass::Peer => REFUSED,
        ErrorClass::Local => LOCAL,
        ErrorClass::Unreachable => UNREACHABLE,
        ErrorClass::Stopping => STOPPING,
    }
}
