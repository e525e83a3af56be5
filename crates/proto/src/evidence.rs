//! Kinds of evidence of misbehaviour a link records: a closed set, named once for the store,
//! logs and JSON.

use std::fmt;

/// What a piece of evidence proves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum EvidenceKind {
    /// The peer signed two different entries for one seq.
    Equivocation,
    /// An entry's `prev` does not continue the peer's chain.
    Fork,
    /// A receipt names entries this station never wrote, or a head that differs from ours.
    BadReceipt,
}

impl EvidenceKind {
    /// Every kind.
    pub const ALL: [EvidenceKind; 3] = [
        EvidenceKind::Equivocation,
        EvidenceKind::Fork,
        EvidenceKind::BadReceipt,
    ];

    /// The stable lower-case name used in the store, logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::Equivocation => "equivocation",
            EvidenceKind::Fork => "fork",
            EvidenceKind::BadReceipt => "bad_receipt",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

crate::serde_by_name!(
    EvidenceKind,
    "evidence kind",
    "use equivocation, fork or bad_receipt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EvidenceKind::ALL {
            assert_eq!(EvidenceKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(EvidenceKind::parse("Fork"), None);
    }
}
