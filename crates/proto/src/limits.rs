//! Every bound the protocol enforces, with its unit last. Both sides of each are tested.

/// Largest message text accepted by `send`, in UTF-8 bytes.
pub const TEXT_SIZE_MAX_BYTES: usize = 16 * 1024;
/// Largest envelope accepted from a channel, in bytes (the sealed entry plus its header).
pub const ENVELOPE_SIZE_MAX_BYTES: usize = 64 * 1024;
/// Largest receipt accepted from a channel, in bytes.
pub const RECEIPT_SIZE_MAX_BYTES: usize = 2 * 1024;
/// Largest frame (tag byte plus envelope or receipt), in bytes.
pub const FRAME_SIZE_MAX_BYTES: usize = ENVELOPE_SIZE_MAX_BYTES + 1;
/// Largest signed entry, in bytes; an entry must fit in an envelope with room for the header.
pub const ENTRY_SIZE_MAX_BYTES: usize = ENVELOPE_SIZE_MAX_BYTES - 2 * 1024;
/// Largest contact card, in bytes (binary, before the text armour).
pub const CARD_SIZE_MAX_BYTES: usize = 8 * 1024;
/// Longest station name, in UTF-8 bytes.
pub const NAME_SIZE_MAX_BYTES: usize = 64;
/// Longest time a test may be given to be answered, in milliseconds (one day).
pub const TEST_ANSWER_WITHIN_MS_MAX: u64 = 24 * 3_600_000;
/// Most fixed test times in one day's schedule.
pub const TEST_TIMES_MAX: usize = 48;
/// Shortest interval between scheduled tests, in milliseconds.
pub const TEST_EVERY_MS_MIN: u64 = 1_000;
/// Longest interval between scheduled tests, in milliseconds (one week).
pub const TEST_EVERY_MS_MAX: u64 = 7 * 24 * 3_600_000;
/// Longest language tag (BCP 47, e.g. `en`, `ru`, `zh-Hant`), in bytes.
pub const LANG_SIZE_MAX_BYTES: usize = 16;
/// Most channel addresses a contact card may list.
pub const CARD_ADDRESSES_MAX: usize = 8;
/// Longest channel address in a card, in bytes.
pub const ADDRESS_SIZE_MAX_BYTES: usize = 256;
/// How far past the contiguous head a peer's entry may arrive and still be held, in entries.
pub const REORDER_WINDOW_MAX_ENTRIES: u64 = 4096;
/// Most out-of-order sequence numbers a receipt lists besides its cumulative bound.
pub const RECEIPT_EXTRA_MAX: usize = 64;
/// Bytes of envelopes one peer may make this station store at once, by default: the burst of
/// its intake allowance (`[intake] burst_mib`).
pub const INTAKE_BURST_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// Bytes by which one peer's intake allowance grows in a day, by default (`[intake]
/// per_day_mib`).
pub const INTAKE_PER_DAY_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// Most own entries a peer lost (its store put back to an older copy) that are sealed again
/// at a time; the rest follow once the peer receipts these.
pub const RESEAL_ENTRIES_MAX: usize = 256;
/// Most unreceipted entries a link holds for one peer before `send` refuses more.
pub const OUTBOX_DEPTH_MAX: usize = 200_000;
/// Most envelopes sealed under one HPKE encapsulation before a fresh one is made.
pub const SEAL_REUSE_ENVELOPES_MAX: u32 = 1024;
/// Longest one HPKE encapsulation is reused for sealing, in milliseconds.
pub const SEAL_REUSE_MS_MAX: u64 = 60_000;
/// Most decapsulated HPKE contexts a link caches for opening, in contexts.
pub const OPEN_CACHE_CONTEXTS_MAX: usize = 16;
/// Most peer epoch public keys a process remembers as validated ([`crate::seal::PeerEpochKey`]),
/// in keys (about 3 KiB each, decoded, with the bytes it came from).
pub const PEER_EPOCH_KEYS_REMEMBERED_MAX: usize = 16;
/// How far ahead of the receiver's clock an entry's time may be, in milliseconds.
pub const ENTRY_FUTURE_SKEW_MS_MAX: u64 = 10 * 60 * 1000;
/// First retransmission interval on a direct channel, in milliseconds.
pub const DIRECT_RETRANSMIT_MS_MIN: u64 = 2_000;
/// Longest retransmission interval on a direct channel, in milliseconds.
pub const DIRECT_RETRANSMIT_MS_MAX: u64 = 60_000;
/// First retransmission interval on a relay channel, in milliseconds.
pub const RELAY_RETRANSMIT_MS_MIN: u64 = 60_000;
/// Longest retransmission interval on a relay channel, in milliseconds.
pub const RELAY_RETRANSMIT_MS_MAX: u64 = 15 * 60_000;
/// First retransmission interval on a courier channel, in milliseconds (one day).
pub const COURIER_RETRANSMIT_MS_MIN: u64 = 24 * 3_600_000;
/// Longest retransmission interval on a courier channel, in milliseconds (one week).
pub const COURIER_RETRANSMIT_MS_MAX: u64 = 7 * 24 * 3_600_000;
/// Most evidence records (equivocations, forks) a link raises before it only counts them.
pub const EVIDENCE_PER_LINK_MAX: u64 = 1_000;
/// Largest courier bundle file, in bytes.
pub const BUNDLE_SIZE_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Most frames (envelopes and receipts) one courier bundle carries.
pub const BUNDLE_FRAMES_MAX: usize = 20_000;
/// Most named parameters of a coded message, or fields of a notice.
pub const PARAMS_MAX: usize = 32;
/// Longest name of a parameter, field, form or choice value, in bytes.
pub const PARAM_NAME_SIZE_MAX_BYTES: usize = 32;
/// Fewest vertices of a polygon area.
pub const POLYGON_POINTS_MIN: usize = 3;
/// Most vertices of a polygon area.
pub const POLYGON_POINTS_MAX: usize = 64;
/// Largest radius of a circular area, in metres (half the Earth's circumference).
pub const AREA_RADIUS_M_MAX: u64 = 20_000_000;
/// Largest codebook, in bytes of its TOML source; a proposal must fit in one entry.
pub const CODEBOOK_SIZE_MAX_BYTES: usize = 48 * 1024;
/// Most translations a message carries from its sender; displays show as many translation
/// entries of each side for one message.
pub const TRANSLATIONS_MAX: usize = 8;
