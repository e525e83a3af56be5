//! Codebooks: on some links an operator proposes a codebook at a random time, the peer's
//! operator accepts it a while after it is delivered, and some links then agree a second
//! version; once a codebook is agreed, as its operator can know it, one message in three is a
//! coded message. Every step goes through the core's own commands.

use super::operators::Act;
use super::*;
use parley_proto::{Body, CodebookHash};

/// Chance that a link's stations agree a codebook in a seed with operators, per mille.
const CODEBOOK_PER_MILLE: u64 = 500;
/// Chance that a link with an agreed codebook agrees a second version, per mille.
const NEW_VERSION_PER_MILLE: u64 = 500;
/// Chance that a message on a link with an agreed codebook is a coded message, per mille.
const CODED_PER_MILLE: u64 = 333;
/// Longest an operator takes to propose, or to accept a proposal once it is delivered, in
/// milliseconds.
const CODEBOOK_DELAY_MS_MAX: u64 = 60_000;
/// The codes the simulated codebooks hold (none takes a parameter).
const CODES: u64 = 3;

/// A codebook proposed on a link, as the world knows it.
pub(super) struct Book {
    /// The proposer and the acceptor, by index.
    pub by: usize,
    pub to: usize,
    /// Its version (1, then 2 on some links), its source and the hash of that.
    version: u32,
    source: String,
    hash: CodebookHash,
    /// The proposal's seq in the proposer's log, once it is known durable.
    proposed_seq: Option<u64>,
    /// Whether the acceptor's operator was asked to accept it.
    accept_asked: bool,
    /// The acceptance's seq in the acceptor's log, once it is known durable.
    accepted_seq: Option<u64>,
}

/// A codebook in English of [`CODES`] plain codes, of `version`.
fn source(version: u32) -> String {
    let mut source = format!(
        "format = 1\nname = \"Simulated hotline\"\nversion = {version}\nlanguages = [\"en\"]\n"
    );
    for number in 1..=CODES {
        source.push_str(&format!(
            "\n[[code]]\nnumber = {number}\ntext.en = \"Code {number} of version {version}.\"\n"
        ));
    }
    source
}

impl World {
    /// Plans the first codebook of some links, each proposed by one of its stations at a
    /// random time.
    pub(super) fn plan_codebooks(&mut self) {
        if !self.config.watch {
            return;
        }
        for i in 0..self.stations.len() {
            for j in self.peers(i).filter(|j| *j > i).collect::<Vec<_>>() {
                if self.dice.chance(CODEBOOK_PER_MILLE) {
                    let (by, to) = if self.dice.chance(500) {
                        (i, j)
                    } else {
                        (j, i)
                    };
                    self.plan_proposal(by, to, 1);
                }
            }
        }
    }

    /// `by`'s operator will propose a codebook of `version` to `to`.
    fn plan_proposal(&mut self, by: usize, to: usize, version: u32) {
        let source = source(version);
        let book = Book {
            by,
            to,
            version,
            hash: CodebookHash::of(source.as_bytes()),
            source,
            proposed_seq: None,
            accept_asked: false,
            accepted_seq: None,
        };
        self.books.push(book);
        let act = Act::Propose {
            book: self.books.len() - 1,
        };
        self.acts_pending += 1;
        let delay_ms = self.dice.below(CODEBOOK_DELAY_MS_MAX + 1);
        self.push(delay_ms, Event::Act { station: by, act });
    }

    /// The command an operator's act on a codebook is.
    pub(super) fn book_command(&self, act: Act, operator: String) -> Command {
        match act {
            Act::Propose { book } => {
                let book = &self.books[book];
                Command::CodebookPropose {
                    peer: NAMES[book.to].into(),
                    source: book.source.clone(),
                    operator: Some(operator),
                }
            }
            Act::Accept { book } => {
                let book = &self.books[book];
                Command::CodebookAccept {
                    peer: NAMES[book.by].into(),
                    hash: Some(book.hash),
                    operator,
                }
            }
            Act::Answer { .. } | Act::Cancel { .. } => unreachable!("not about a codebook"),
        }
    }

    /// Takes the core's answer to a proposal or an acceptance: its seq is known from the
    /// reply, or, when a crash swallowed the reply of one durable before it, from the store.
    pub(super) fn book_acted(
        &mut self,
        i: usize,
        act: Act,
        result: Result<Reply, parley_station::api::ApiError>,
    ) -> Outcome {
        let (Act::Propose { book: index } | Act::Accept { book: index }) = act else {
            unreachable!("not about a codebook");
        };
        let proposing = matches!(act, Act::Propose { .. });
        let seq = match result {
            Ok(Reply::CodebookProposed(sent) | Reply::CodebookAccepted(sent)) => sent.seq,
            Err(error)
                if error.message.contains("proposed on this link already")
                    || error.message.contains("accepted by this station already") =>
            {
                self.own_book_entry(i, index, proposing)?.ok_or_else(|| {
                    format!(
                        "{}: {}, yet its store holds no such entry",
                        NAMES[i], error.message
                    )
                })?
            }
            other => {
                return Err(format!(
                    "{}'s operator could not {act:?}: {other:?}",
                    NAMES[i]
                ));
            }
        };
        if proposing {
            self.books[index].proposed_seq = Some(seq);
            self.report.codebooks_proposed += 1;
            let to = self.books[index].to;
            self.accept_due(to);
        } else {
            self.books[index].accepted_seq = Some(seq);
            self.report.codebooks_agreed += 1;
            let book = &self.books[index];
            let (by, to) = (book.by, book.to);
            if book.version == 1 && self.dice.chance(NEW_VERSION_PER_MILLE) {
                let (by, to) = if self.dice.chance(500) {
                    (by, to)
                } else {
                    (to, by)
                };
                self.plan_proposal(by, to, 2);
            }
        }
        Ok(())
    }

    /// The seq of station `i`'s own entry proposing (or accepting) book `index`, if it holds
    /// one.
    fn own_book_entry(&self, i: usize, index: usize, proposing: bool) -> Outcome<Option<u64>> {
        let book = &self.books[index];
        let peer = if proposing { book.to } else { book.by };
        self.stored_seq(i, (peer, i), |entry| match &entry.body {
            Body::CodebookProposal { source } if proposing => *source == book.source,
            Body::CodebookAccept { codebook, .. } if !proposing => *codebook == book.hash,
            _ => false,
        })
    }

    /// Station `i`'s operator is asked to accept each proposal to it that its store has
    /// delivered (after a while): delivered as its operator can know it, by a `Delivered`
    /// event or a restart, both after the commit. The core's own head may be ahead of what is
    /// durable (a commit under way), and a crash then takes it back: an operator asked on that
    /// head would accept a proposal the restarted core never heard of.
    pub(super) fn accept_due(&mut self, i: usize) {
        if self.stations[i].core.is_none() {
            return;
        }
        let links = &self.stations[i].links;
        let due: Vec<usize> = (0..self.books.len())
            .filter(|index| {
                let book = &self.books[*index];
                let head = || links.get(&book.by).map_or(0, |link| link.delivered_head);
                book.to == i
                    && !book.accept_asked
                    && book.proposed_seq.is_some_and(|seq| seq <= head())
            })
            .collect();
        for book in due {
            self.books[book].accept_asked = true;
            self.acts_pending += 1;
            let delay_ms = self.dice.below(CODEBOOK_DELAY_MS_MAX + 1);
            self.push(
                delay_ms,
                Event::Act {
                    station: i,
                    act: Act::Accept { book },
                },
            );
        }
    }

    /// A code for station `i`'s next message to `to`, when a codebook of their link is agreed
    /// as `i` can know it (its own acceptance durable, or the peer's delivered to it: by a
    /// `Delivered` event or a restart, both after the commit; the core's own head may be ahead
    /// of what is durable, and a crash before the message is sent takes it back) and the dice
    /// say so.
    pub(super) fn maybe_code(&mut self, i: usize, to: usize) -> Option<u64> {
        self.stations[i].core.as_ref()?;
        let head = (self.stations[i].links.get(&to)).map_or(0, |link| link.delivered_head);
        let agreed = self.books.iter().any(|book| match book.accepted_seq {
            Some(_) if (book.by, book.to) == (to, i) => true,
            Some(seq) if (book.by, book.to) == (i, to) => seq <= head,
            _ => false,
        });
        (agreed && self.dice.chance(CODED_PER_MILLE)).then(|| 1 + self.dice.below(CODES))
    }
}
