//! Known answers for every cryptographic primitive `parley-proto` links, called the way parley
//! calls it, so that a dependency upgrade that changes what a primitive computes, or what it
//! accepts, fails here before it reaches a station.
//!
//! | primitive | as parley uses it | vectors | cases |
//! |---|---|---|---|
//! | Ed25519 | `StationId::verifying_key`, `verify_strict` (cose.rs) | Wycheproof `ed25519_test.json`, plus the eight small-order keys | 151 + 8 |
//! | X25519 | inside X-Wing (`x25519-dalek` `StaticSecret`) | Wycheproof `x25519_test.json` | 518 |
//! | ChaCha20-Poly1305 | envelope encryption (seal.rs) | Wycheproof `chacha20_poly1305_test.json` | 325 |
//! | ML-KEM-768 | inside X-Wing (`ml-kem`) | Wycheproof `mlkem_768_test.json`, `mlkem_768_encaps_test.json`, `mlkem_768_keygen_seed_test.json`, `mlkem_768_semi_expanded_decaps_test.json` | 201 + 265 + 100 + 9 |
//! | HKDF-SHA256 | the HPKE key schedule (`hkdf` under `hpke`) | Wycheproof `hkdf_sha256_test.json` | 86 |
//! | X-Wing | epoch keys and encapsulation (`hpke`'s `XWing`, seal.rs) | draft-connolly-cfrg-xwing-kem-06 test vectors | 3 |
//! | HPKE key schedule, export and parley's envelope seal | seal.rs, docs/formats.md | recomputed from RFC 9180 §5 over the X-Wing answers | 3 × 4 + 3 × 3 |
//!
//! Where the vectors come from. None is copied into this repository; each is read from a
//! package from the Rust package registry that Cargo.lock pins by checksum:
//!
//! - the Wycheproof files come from the `wycheproof` package (a dev-dependency), which ships
//!   C2SP/wycheproof's `testvectors_v1` files as they are and hands out each file's text with
//!   `TestName::json_data`; this test parses that text itself. Version 0.7.0 carries the files
//!   as of 2026-09-10: all but `mlkem_768_test.json` are byte for byte those of C2SP/wycheproof
//!   commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, and that one is a later revision with 201
//!   cases where the commit has 193. Each file's case count is pinned below, so a new package
//!   version that adds or drops cases fails here and gets read before it is taken.
//! - the X-Wing vectors come from the `x-wing` package that `hpke` already builds X-Wing from:
//!   it ships the draft's `spec/test-vectors.json` as `tests/test-vectors.json`. The file is
//!   read from Cargo's registry and its SHA-256 is pinned.
//!
//! RFC 9180 publishes no vectors for X-Wing. Instead of a second-hand vector, the HPKE checks
//! recompute RFC 9180's key schedule and secret export with HKDF-SHA256 (checked above) from
//! the X-Wing shared secrets (checked above), and require `hpke` and parley's `Sealer` to give
//! exactly those bytes.
//!
//! Policy for Wycheproof's "acceptable" verdict, per primitive: X25519 computes RFC 7748's
//! function for every input, low-order points included (X-Wing hashes the X25519 share with the
//! ML-KEM share, so it needs no refusal there); every other primitive refuses what is not valid.

use std::convert::Infallible;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit as _, Nonce};
use ed25519_dalek::{Signature, Verifier as _};
use hkdf::Hkdf;
use hpke::kem::XWing;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
#[allow(deprecated)] // the semi-expanded decapsulation vectors need the legacy key form
use ml_kem::ExpandedKeyEncoding as _;
#[allow(deprecated)] // likewise
use ml_kem::ml_kem_768::ExpandedDecapsulationKey;
use ml_kem::ml_kem_768::{Ciphertext, DecapsulationKey, EncapsulationKey};
use ml_kem::{B32, Decapsulate as _, FromSeed as _, KeyExport as _, MlKem768, Seed};
use parley_proto::seal::{EpochSecret, Keyring, Opener, PeerEpochKey, SealParties, Sealer};
use parley_proto::{EntryId, EpochKeyId, LinkId, StationId};
use rand_core::{TryCryptoRng, TryRng};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use sha2::{Digest as _, Sha256};
use wycheproof::{aead, eddsa, hkdf as wycheproof_hkdf, mlkem, xdh};

/// Cases in `ed25519_test.json` as the pinned `wycheproof` package ships it.
const ED25519_CASES: usize = 151;
/// Cases in `x25519_test.json`.
const X25519_CASES: usize = 518;
/// Cases in `chacha20_poly1305_test.json`.
const CHACHA20_POLY1305_CASES: usize = 325;
/// Cases in `mlkem_768_test.json` (seed, ciphertext, shared secret).
const MLKEM_768_CASES: usize = 201;
/// Cases in `mlkem_768_encaps_test.json` (encapsulation key, randomness, ciphertext).
const MLKEM_768_ENCAPS_CASES: usize = 265;
/// Cases in `mlkem_768_keygen_seed_test.json` (seed, expanded keys).
const MLKEM_768_KEYGEN_SEED_CASES: usize = 100;
/// Cases in `mlkem_768_semi_expanded_decaps_test.json` (expanded key, ciphertext).
const MLKEM_768_SEMI_EXPANDED_DECAPS_CASES: usize = 9;
/// Cases in `hkdf_sha256_test.json`.
const HKDF_SHA256_CASES: usize = 86;
/// Vectors in the X-Wing draft's test-vectors file.
const XWING_CASES: usize = 3;

/// SHA-256 of the X-Wing vectors file in the `x-wing` package. Its content is, value for value,
/// `spec/test-vectors.json` of dconnolly/draft-connolly-cfrg-xwing-kem, unchanged from tag
/// draft-connolly-cfrg-xwing-kem-05 through -10 (commit 9b6ce9e614811dba8d46841052f3883cbc4c1a65);
/// the package only indents it. A different file means different vectors: read them first.
const XWING_VECTORS_SHA256: &str =
    "a8726596f4c7629590f727b1bbeb483f6932292fbf5fd85c9cbb803190014f00";

/// The eight canonical encodings of Ed25519 points whose order divides 8 (the set libsodium
/// blocks), with that order. A key that is one of them lets anyone forge signatures for a
/// lenient verifier.
const SMALL_ORDER_KEYS: [(&str, u32); 8] = [
    (
        "0100000000000000000000000000000000000000000000000000000000000000",
        1,
    ),
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        2,
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        4,
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000080",
        4,
    ),
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        8,
    ),
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        8,
    ),
    (
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        8,
    ),
    (
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        8,
    ),
];

/// Messages tried per small-order key before giving up on a forgery. A forgery for a key of
/// order n works for a message with probability 1/n, so for n = 8 this many tries all miss
/// with probability (7/8)^256, below 2^-49; the messages are fixed, so the outcome is too.
const FORGERY_MESSAGES_MAX: u32 = 256;

/// RFC 9180 `suite_id` of parley's suite: "HPKE", KEM X-Wing (0x647a), KDF HKDF-SHA256
/// (0x0001), AEAD ChaCha20-Poly1305 (0x0003).
const SUITE_ID: &[u8] = b"HPKE\x64\x7a\x00\x01\x00\x03";
/// RFC 9180 mode_base.
const MODE_BASE: u8 = 0x00;

/// What a primitive did with one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// It took the inputs and gave the vector's outputs.
    Accepted,
    /// It refused the inputs, or could not be handed them (a key or nonce of the wrong length).
    Refused,
    /// It took the inputs but gave something other than the vector's output (named); never
    /// right, whatever the vector's verdict.
    WrongAnswer(&'static str),
}

/// Wycheproof's verdict on a case.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Valid,
    Invalid,
    Acceptable,
}

impl Expected {
    /// The verdict a primitive must reach: valid cases accepted, invalid ones refused, and
    /// acceptable ones as the primitive's stated policy says.
    fn verdict(self, acceptable: Verdict) -> Verdict {
        match self {
            Expected::Valid => Verdict::Accepted,
            Expected::Invalid => Verdict::Refused,
            Expected::Acceptable => acceptable,
        }
    }
}

/// A Wycheproof file: its header and its groups of cases.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WycheproofFile<C> {
    number_of_tests: usize,
    test_groups: Vec<Group<C>>,
}

/// A group of cases; signature groups also carry the public key their cases verify under.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group<C> {
    #[serde(default)]
    public_key: Option<GroupKey>,
    tests: Vec<C>,
}

/// A signature group's public key.
#[derive(Deserialize)]
struct GroupKey {
    #[serde(deserialize_with = "hex_bytes")]
    pk: Vec<u8>,
}

/// What every Wycheproof case has besides its data.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    tc_id: usize,
    #[serde(default)]
    comment: String,
    result: Expected,
    #[serde(default)]
    flags: Vec<String>,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tcId {} ({:?}, {:?}, {:?})",
            self.tc_id, self.result, self.flags, self.comment
        )
    }
}

/// An EdDSA verification case.
#[derive(Deserialize)]
struct SignatureCase {
    #[serde(flatten)]
    header: Header,
    #[serde(deserialize_with = "hex_bytes")]
    msg: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    sig: Vec<u8>,
}

/// An X25519 agreement case.
#[derive(Deserialize)]
struct AgreementCase {
    #[serde(flatten)]
    header: Header,
    #[serde(deserialize_with = "hex_bytes")]
    public: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    private: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    shared: Vec<u8>,
}

/// An AEAD case.
#[derive(Deserialize)]
struct AeadCase {
    #[serde(flatten)]
    header: Header,
    #[serde(deserialize_with = "hex_bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    iv: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    aad: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    msg: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    ct: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    tag: Vec<u8>,
}

/// An ML-KEM case; the four ML-KEM files each use a subset of these fields.
#[derive(Deserialize)]
struct MlKemCase {
    #[serde(flatten)]
    header: Header,
    #[serde(default, deserialize_with = "hex_option")]
    seed: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    ek: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    dk: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    m: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    c: Option<Vec<u8>>,
    #[serde(default, rename = "K", deserialize_with = "hex_option")]
    k: Option<Vec<u8>>,
}

/// An HKDF case.
#[derive(Deserialize)]
struct HkdfCase {
    #[serde(flatten)]
    header: Header,
    #[serde(deserialize_with = "hex_bytes")]
    ikm: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    salt: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    info: Vec<u8>,
    size: usize,
    #[serde(deserialize_with = "hex_bytes")]
    okm: Vec<u8>,
}

/// One X-Wing draft vector: key seed, encapsulation randomness and the answers.
#[derive(Deserialize)]
struct XWingVector {
    #[serde(deserialize_with = "hex_bytes")]
    seed: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    eseed: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    ss: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    sk: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pk: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    ct: Vec<u8>,
}

/// Decodes a hex string field.
fn hex_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    hex::decode(String::deserialize(deserializer)?).map_err(D::Error::custom)
}

/// Decodes a hex string field that some cases leave out.
fn hex_option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| hex::decode(text).map_err(D::Error::custom))
        .transpose()
}

/// Reads a Wycheproof file and checks that it holds as many cases as its header says and as
/// this test expects, so that no case goes unchecked and none is added unnoticed.
fn load<C: DeserializeOwned>(json: &str, file: &str, cases_expected: usize) -> Vec<Group<C>> {
    let parsed: WycheproofFile<C> =
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{file} does not parse: {error}"));
    let counted: usize = parsed.test_groups.iter().map(|g| g.tests.len()).sum();
    assert_eq!(
        counted, parsed.number_of_tests,
        "{file}: the cases found differ from the header's numberOfTests"
    );
    assert_eq!(
        counted, cases_expected,
        "{file}: the package's case count changed; read the new cases, then update the count"
    );
    parsed.test_groups
}

/// Counts the vectors checked and keeps a line for each one whose verdict is wrong, so that a
/// run names every failing case rather than stopping at the first.
struct Tally {
    file: &'static str,
    checked: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn new(file: &'static str) -> Self {
        Self {
            file,
            checked: 0,
            wrong: Vec::new(),
        }
    }

    /// The data-driven check: one case, what the primitive did with it, what it must do.
    fn check(&mut self, case: impl fmt::Display, got: Verdict, expect: Verdict) {
        self.checked += 1;
        if got != expect {
            self.wrong
                .push(format!("{case}: expected {expect:?}, got {got:?}"));
        }
    }

    /// Asserts every one of `cases_expected` vectors was checked and none came out wrong.
    fn finish(self, cases_expected: usize) {
        assert!(
            self.wrong.is_empty(),
            "{}: {} of {} cases wrong:\n{}",
            self.file,
            self.wrong.len(),
            self.checked,
            self.wrong.join("\n")
        );
        assert_eq!(
            self.checked, cases_expected,
            "{}: not every case was checked",
            self.file
        );
    }
}

/// Verifies a signature the way parley does: the key read as a pinned identity is
/// (`StationId::verifying_key`), the signature parsed and checked as cose.rs does, with
/// `verify_strict`.
fn verify_as_parley(public_key: &[u8], message: &[u8], signature: &[u8]) -> Verdict {
    let Ok(public_key) = <[u8; 32]>::try_from(public_key) else {
        return Verdict::Refused;
    };
    let Ok(key) = StationId(public_key).verifying_key() else {
        return Verdict::Refused;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return Verdict::Refused;
    };
    match key.verify_strict(message, &signature) {
        Ok(()) => Verdict::Accepted,
        Err(_) => Verdict::Refused,
    }
}

#[test]
fn ed25519_strict_verification_matches_wycheproof() {
    let file = "ed25519_test.json";
    let groups: Vec<Group<SignatureCase>> =
        load(eddsa::TestName::Ed25519.json_data(), file, ED25519_CASES);
    let mut tally = Tally::new(file);
    let mut non_canonical_s = 0;
    for group in &groups {
        let public_key = &group
            .public_key
            .as_ref()
            .expect("every EdDSA group names its key")
            .pk;
        for case in &group.tests {
            // Strict verification refuses whatever is not plainly valid.
            let expect = case.header.result.verdict(Verdict::Refused);
            let got = verify_as_parley(public_key, &case.msg, &case.sig);
            tally.check(&case.header, got, expect);
            if case
                .header
                .flags
                .iter()
                .any(|f| f == "SignatureMalleability")
            {
                non_canonical_s += 1;
            }
        }
    }
    // The claim that non-canonical S is refused rests on the file having such cases.
    assert!(
        non_canonical_s > 0,
        "{file} has no SignatureMalleability case"
    );
    tally.finish(ED25519_CASES);
}

#[test]
fn ed25519_small_order_keys_are_refused() {
    // Wycheproof's file has no small-order public key, so the eight are checked here. With R
    // the identity and S = 0, a lenient verifier's equation [S]B = R + [k]A holds whenever the
    // key's order divides k = H(R || A || M); for each key a message that makes it hold is
    // found, to show the forgery is real, and parley's verification must still refuse it.
    let mut identity_r_zero_s = [0u8; 64];
    identity_r_zero_s[0] = 1;
    let forged = Signature::from_bytes(&identity_r_zero_s);
    for (encoded, order) in SMALL_ORDER_KEYS {
        let public_key: [u8; 32] = hex::decode(encoded)
            .expect("the table is hex")
            .try_into()
            .expect("the table holds 32-byte keys");
        let key = StationId(public_key)
            .verifying_key()
            .expect("a small-order point is still a point");
        assert!(key.is_weak(), "{encoded} (order {order}) is not weak");
        let message = (0..FORGERY_MESSAGES_MAX)
            .map(|i| format!("parley small-order probe {i}").into_bytes())
            .find(|message| key.verify(message, &forged).is_ok())
            .unwrap_or_else(|| panic!("no forgery found for {encoded} (order {order})"));
        assert_eq!(
            verify_as_parley(&public_key, &message, &identity_r_zero_s),
            Verdict::Refused,
            "{encoded} (order {order}): a forged signature was accepted"
        );
    }
}

/// X25519 as X-Wing computes it (`x25519-dalek`'s `StaticSecret`): the shared value, and
/// whether it was contributory (not the all-zero value of a low-order point).
fn x25519_verdict(case: &AgreementCase) -> Verdict {
    let (Ok(private), Ok(public)) = (
        <[u8; 32]>::try_from(case.private.as_slice()),
        <[u8; 32]>::try_from(case.public.as_slice()),
    ) else {
        return Verdict::Refused;
    };
    let secret = x25519_dalek::StaticSecret::from(private);
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(public));
    if shared.as_bytes().as_slice() != case.shared.as_slice() {
        return Verdict::WrongAnswer("shared");
    }
    let all_zero = case.shared.iter().all(|&byte| byte == 0);
    if shared.was_contributory() == all_zero {
        return Verdict::WrongAnswer("was_contributory");
    }
    Verdict::Accepted
}

#[test]
fn x25519_matches_wycheproof() {
    let file = "x25519_test.json";
    let groups: Vec<Group<AgreementCase>> =
        load(xdh::TestName::X25519.json_data(), file, X25519_CASES);
    let mut tally = Tally::new(file);
    for case in groups.iter().flat_map(|g| &g.tests) {
        // Acceptable cases (low-order and non-canonical points, twist points) must give RFC
        // 7748's value too: X-Wing relies on the function, not on a refusal.
        let expect = case.header.result.verdict(Verdict::Accepted);
        tally.check(&case.header, x25519_verdict(case), expect);
    }
    tally.finish(X25519_CASES);
}

/// ChaCha20-Poly1305 as seal.rs builds it (`new_from_slice`): opening must give the message
/// and sealing must give the ciphertext and tag.
fn chacha20_poly1305_verdict(case: &AeadCase) -> Verdict {
    let Ok(cipher) = ChaCha20Poly1305::new_from_slice(&case.key) else {
        return Verdict::Refused;
    };
    let Ok(nonce) = Nonce::try_from(case.iv.as_slice()) else {
        return Verdict::Refused;
    };
    let sealed = [case.ct.as_slice(), &case.tag].concat();
    let opened = cipher.decrypt(
        &nonce,
        Payload {
            msg: &sealed,
            aad: &case.aad,
        },
    );
    match opened {
        Err(_) => Verdict::Refused,
        Ok(message) if message != case.msg => Verdict::WrongAnswer("opened message"),
        Ok(_) => {
            let resealed = cipher.encrypt(
                &nonce,
                Payload {
                    msg: &case.msg,
                    aad: &case.aad,
                },
            );
            match resealed {
                Ok(ciphertext) if ciphertext == sealed => Verdict::Accepted,
                _ => Verdict::WrongAnswer("sealed ciphertext"),
            }
        }
    }
}

#[test]
fn chacha20_poly1305_matches_wycheproof() {
    let file = "chacha20_poly1305_test.json";
    let groups: Vec<Group<AeadCase>> = load(
        aead::TestName::ChaCha20Poly1305.json_data(),
        file,
        CHACHA20_POLY1305_CASES,
    );
    let mut tally = Tally::new(file);
    for case in groups.iter().flat_map(|g| &g.tests) {
        let expect = case.header.result.verdict(Verdict::Refused);
        tally.check(&case.header, chacha20_poly1305_verdict(case), expect);
    }
    tally.finish(CHACHA20_POLY1305_CASES);
}

/// Compares an output with the vector's, when the vector gives one.
fn same(output: &[u8], expected: Option<&Vec<u8>>, what: &'static str) -> Result<(), Verdict> {
    match expected {
        Some(expected) if expected.as_slice() != output => Err(Verdict::WrongAnswer(what)),
        _ => Ok(()),
    }
}

/// ML-KEM-768 from a 64-byte seed, as X-Wing expands its key (`MlKem768::from_seed`), then
/// decapsulation of the vector's ciphertext.
fn mlkem_decaps_from_seed(case: &MlKemCase) -> Result<(), Verdict> {
    let seed = case.seed.as_deref().ok_or(Verdict::Refused)?;
    let seed = Seed::try_from(seed).map_err(|_| Verdict::Refused)?;
    let (decapsulation_key, encapsulation_key) = MlKem768::from_seed(&seed);
    same(&encapsulation_key.to_bytes(), case.ek.as_ref(), "ek")?;
    let ciphertext = case.c.as_deref().ok_or(Verdict::Refused)?;
    let ciphertext = Ciphertext::try_from(ciphertext).map_err(|_| Verdict::Refused)?;
    same(
        &decapsulation_key.decapsulate(&ciphertext),
        case.k.as_ref(),
        "K",
    )
}

/// An ML-KEM-768 encapsulation key parsed as X-Wing parses a peer's key
/// (`EncapsulationKey::new`, which checks every coefficient is reduced), then encapsulation
/// with the vector's randomness.
fn mlkem_encaps(case: &MlKemCase) -> Result<(), Verdict> {
    let key = case.ek.as_deref().ok_or(Verdict::Refused)?;
    let key = ml_kem::array::Array::try_from(key).map_err(|_| Verdict::Refused)?;
    let key = EncapsulationKey::new(&key).map_err(|_| Verdict::Refused)?;
    let randomness = case.m.as_deref().ok_or(Verdict::Refused)?;
    let randomness = B32::try_from(randomness).map_err(|_| Verdict::Refused)?;
    let (ciphertext, shared) = key.encapsulate_deterministic(&randomness);
    same(&ciphertext, case.c.as_ref(), "c")?;
    same(&shared, case.k.as_ref(), "K")
}

/// ML-KEM-768 key generation from a seed, compared with both expanded keys.
fn mlkem_keygen_from_seed(case: &MlKemCase) -> Result<(), Verdict> {
    let seed = case.seed.as_deref().ok_or(Verdict::Refused)?;
    let seed = Seed::try_from(seed).map_err(|_| Verdict::Refused)?;
    let (decapsulation_key, encapsulation_key) = MlKem768::from_seed(&seed);
    same(&encapsulation_key.to_bytes(), case.ek.as_ref(), "ek")?;
    #[allow(deprecated)] // the vector gives the legacy expanded form to compare with
    let expanded = decapsulation_key.to_expanded_bytes();
    same(&expanded, case.dk.as_ref(), "dk")
}

/// ML-KEM-768 decapsulation from the legacy expanded key, which must be refused when its
/// embedded hash or key is corrupt. Parley never holds expanded keys; the vectors check the
/// validation `ml-kem` applies to them.
#[allow(deprecated)]
fn mlkem_decaps_from_expanded(case: &MlKemCase) -> Result<(), Verdict> {
    let expanded = case.dk.as_deref().ok_or(Verdict::Refused)?;
    let expanded = ExpandedDecapsulationKey::try_from(expanded).map_err(|_| Verdict::Refused)?;
    let key = DecapsulationKey::from_expanded(&expanded).map_err(|_| Verdict::Refused)?;
    let ciphertext = case.c.as_deref().ok_or(Verdict::Refused)?;
    let ciphertext = Ciphertext::try_from(ciphertext).map_err(|_| Verdict::Refused)?;
    same(&key.decapsulate(&ciphertext), case.k.as_ref(), "K")
}

#[test]
fn mlkem_768_matches_wycheproof() {
    type Run = fn(&MlKemCase) -> Result<(), Verdict>;
    let files: [(mlkem::TestName, &'static str, usize, Run); 4] = [
        (
            mlkem::TestName::MlKem768,
            "mlkem_768_test.json",
            MLKEM_768_CASES,
            mlkem_decaps_from_seed,
        ),
        (
            mlkem::TestName::MlKem768Encaps,
            "mlkem_768_encaps_test.json",
            MLKEM_768_ENCAPS_CASES,
            mlkem_encaps,
        ),
        (
            mlkem::TestName::MlKem768KeyGenSeed,
            "mlkem_768_keygen_seed_test.json",
            MLKEM_768_KEYGEN_SEED_CASES,
            mlkem_keygen_from_seed,
        ),
        (
            mlkem::TestName::MlKem768SemiExpandedDecaps,
            "mlkem_768_semi_expanded_decaps_test.json",
            MLKEM_768_SEMI_EXPANDED_DECAPS_CASES,
            mlkem_decaps_from_expanded,
        ),
    ];
    for (name, file, cases, run) in files {
        let groups: Vec<Group<MlKemCase>> = load(name.json_data(), file, cases);
        let mut tally = Tally::new(file);
        for case in groups.iter().flat_map(|g| &g.tests) {
            let got = run(case).err().unwrap_or(Verdict::Accepted);
            tally.check(
                &case.header,
                got,
                case.header.result.verdict(Verdict::Refused),
            );
        }
        tally.finish(cases);
    }
}

/// HKDF-SHA256 with the `hkdf` crate `hpke` runs its key schedule on.
fn hkdf_sha256_verdict(case: &HkdfCase) -> Verdict {
    let hkdf = Hkdf::<Sha256>::new(Some(&case.salt), &case.ikm);
    let mut okm = vec![0u8; case.size];
    match hkdf.expand(&case.info, &mut okm) {
        Err(_) => Verdict::Refused,
        Ok(()) if okm == case.okm => Verdict::Accepted,
        Ok(()) => Verdict::WrongAnswer("okm"),
    }
}

#[test]
fn hkdf_sha256_matches_wycheproof() {
    let file = "hkdf_sha256_test.json";
    let groups: Vec<Group<HkdfCase>> = load(
        wycheproof_hkdf::TestName::HkdfSha256.json_data(),
        file,
        HKDF_SHA256_CASES,
    );
    let mut tally = Tally::new(file);
    for case in groups.iter().flat_map(|g| &g.tests) {
        let expect = case.header.result.verdict(Verdict::Refused);
        tally.check(&case.header, hkdf_sha256_verdict(case), expect);
    }
    tally.finish(HKDF_SHA256_CASES);
}

/// A randomness source that hands out the vector's randomness, so that an encapsulation made
/// through the ordinary API is the vector's; asking for more than the vector holds is a bug in
/// the caller and panics.
struct Replay<'a> {
    remaining: &'a [u8],
}

impl<'a> Replay<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { remaining: bytes }
    }

    /// Whether every byte was used: an encapsulation that drew fewer is not the vector's.
    fn is_spent(&self) -> bool {
        self.remaining.is_empty()
    }
}

impl TryRng for Replay<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, destination: &mut [u8]) -> Result<(), Infallible> {
        assert!(
            destination.len() <= self.remaining.len(),
            "asked for {} random bytes with {} left",
            destination.len(),
            self.remaining.len()
        );
        let (used, rest) = self.remaining.split_at(destination.len());
        destination.copy_from_slice(used);
        self.remaining = rest;
        Ok(())
    }
}

impl TryCryptoRng for Replay<'_> {}

/// The `x-wing` version Cargo.lock resolves, so the vectors read are those of the package
/// actually built.
fn locked_version(package: &str) -> String {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let lock = fs::read_to_string(&lock_path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", lock_path.display()));
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    lines
        .find(|line| *line == name_line)
        .and_then(|_| lines.next())
        .and_then(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("Cargo.lock has no version for {package}"))
        .to_owned()
}

/// Reads the X-Wing draft's vectors from the `x-wing` package in Cargo's registry, where the
/// build of `hpke` put it, and checks the file is the one whose vectors were reviewed.
fn x_wing_draft_vectors() -> Vec<XWingVector> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .expect("CARGO_HOME or HOME is set where cargo runs");
    let registry = cargo_home.join("registry").join("src");
    let package = format!("x-wing-{}", locked_version("x-wing"));
    let path = fs::read_dir(&registry)
        .unwrap_or_else(|error| panic!("reading {}: {error}", registry.display()))
        .filter_map(Result::ok)
        .map(|index| index.path().join(&package).join("tests/test-vectors.json"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{package}/tests/test-vectors.json is not under {registry:?}"));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    assert_eq!(
        hex::encode(Sha256::digest(text.as_bytes())),
        XWING_VECTORS_SHA256,
        "{} changed; check its vectors against the X-Wing draft, then update the digest",
        path.display()
    );
    let vectors: Vec<XWingVector> = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} does not parse: {error}", path.display()));
    assert_eq!(vectors.len(), XWING_CASES, "{}", path.display());
    vectors
}

/// One X-Wing vector through the calls parley makes: the key restored from its seed
/// (`EpochSecret`), the public key validated as a peer's (`PeerEpochKey`), encapsulation with
/// the vector's randomness and decapsulation through `hpke`'s `XWing`.
fn x_wing_verdict(vector: &XWingVector) -> Verdict {
    let Ok(own) = EpochSecret::from_secret_bytes(&vector.seed) else {
        return Verdict::Refused;
    };
    if own.secret_bytes() != vector.sk {
        return Verdict::WrongAnswer("sk");
    }
    if own.public_bytes() != vector.pk.as_slice() {
        return Verdict::WrongAnswer("pk");
    }
    if PeerEpochKey::from_bytes(&vector.pk).is_err() {
        return Verdict::Refused;
    }
    let (Ok(public), Ok(private)) = (
        <XWing as hpke::Kem>::PublicKey::from_bytes(&vector.pk),
        <XWing as hpke::Kem>::PrivateKey::from_bytes(&vector.sk),
    ) else {
        return Verdict::Refused;
    };
    let mut randomness = Replay::new(&vector.eseed);
    let Ok((shared, encapsulated)) = XWing::encap_with_rng(&public, None, &mut randomness) else {
        return Verdict::Refused;
    };
    if !randomness.is_spent() {
        return Verdict::WrongAnswer("randomness drawn");
    }
    if encapsulated.to_bytes().as_slice() != vector.ct.as_slice() {
        return Verdict::WrongAnswer("ct");
    }
    if shared.0.as_slice() != vector.ss.as_slice() {
        return Verdict::WrongAnswer("ss (encapsulation)");
    }
    let Ok(encapsulated) = <XWing as hpke::Kem>::EncappedKey::from_bytes(&vector.ct) else {
        return Verdict::Refused;
    };
    match XWing::decap(&private, None, &encapsulated) {
        Ok(shared) if shared.0.as_slice() == vector.ss.as_slice() => Verdict::Accepted,
        Ok(_) => Verdict::WrongAnswer("ss (decapsulation)"),
        Err(_) => Verdict::Refused,
    }
}

#[test]
fn x_wing_matches_the_draft_vectors() {
    let mut tally = Tally::new("x-wing tests/test-vectors.json");
    for (index, vector) in x_wing_draft_vectors().iter().enumerate() {
        tally.check(
            format!("vector {index}"),
            x_wing_verdict(vector),
            Verdict::Accepted,
        );
    }
    tally.finish(XWING_CASES);
}

/// RFC 9180 `LabeledExtract`, returning the pseudorandom key.
fn labeled_extract(salt: &[u8], label: &[u8], ikm: &[u8]) -> Vec<u8> {
    let labeled_ikm = [b"HPKE-v1".as_slice(), SUITE_ID, label, ikm].concat();
    Hkdf::<Sha256>::extract(Some(salt), &labeled_ikm).0.to_vec()
}

/// RFC 9180 `LabeledExpand`.
fn labeled_expand(prk: &[u8], label: &[u8], info: &[u8], length: usize) -> Vec<u8> {
    let length_prefix = u16::try_from(length)
        .expect("HPKE lengths fit two bytes")
        .to_be_bytes();
    let labeled_info = [&length_prefix, b"HPKE-v1".as_slice(), SUITE_ID, label, info].concat();
    let hkdf = Hkdf::<Sha256>::from_prk(prk).expect("an extracted key is a valid PRK");
    let mut okm = vec![0u8; length];
    hkdf.expand(&labeled_info, &mut okm)
        .expect("HPKE never asks for more than 255 hash lengths");
    okm
}

/// RFC 9180 §5.1's `exporter_secret` for mode_base (no PSK) over HKDF-SHA256.
fn exporter_secret_base(shared_secret: &[u8], info: &[u8]) -> Vec<u8> {
    let psk_id_hash = labeled_extract(b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(b"", b"info_hash", info);
    let context = [&[MODE_BASE][..], &psk_id_hash, &info_hash].concat();
    let secret = labeled_extract(shared_secret, b"secret", b"");
    labeled_expand(&secret, b"exp", &context, 32)
}

/// RFC 9180 §5.3's secret export.
fn export(exporter_secret: &[u8], context: &[u8], length: usize) -> Vec<u8> {
    labeled_expand(exporter_secret, b"sec", context, length)
}

/// HPKE setups and exports to check against the recomputation: `info`, exporter context and
/// export length. The last row has parley's shapes (a 101-byte info, a 57-byte context).
const EXPORT_CASES: [(&[u8], &[u8], usize); 4] = [
    (b"", b"", 32),
    (b"Ode on a Grecian Urn", b"TestContext", 32),
    (b"Ode on a Grecian Urn", b"\x00", 64),
    (&[0x5a; 101], &[0xa5; 57], 32),
];

#[test]
fn hpke_export_follows_rfc_9180_over_x_wing() {
    let mut tally = Tally::new("RFC 9180 export over the X-Wing vectors");
    let vectors = x_wing_draft_vectors();
    for (index, vector) in vectors.iter().enumerate() {
        let public = <XWing as hpke::Kem>::PublicKey::from_bytes(&vector.pk)
            .expect("the X-Wing check accepts this key");
        let private = <XWing as hpke::Kem>::PrivateKey::from_bytes(&vector.sk)
            .expect("the X-Wing check accepts this key");
        for (info, context, length) in EXPORT_CASES {
            let case = format!(
                "vector {index}, info {} bytes, context {:?}, {length} bytes",
                info.len(),
                hex::encode(context)
            );
            let mut randomness = Replay::new(&vector.eseed);
            let (encapsulated, sender) =
                hpke::setup_sender_with_rng::<
                    hpke::aead::ChaCha20Poly1305,
                    hpke::kdf::HkdfSha256,
                    XWing,
                >(&OpModeS::Base, &public, info, &mut randomness)
                .expect("encapsulation to a valid key");
            let receiver = hpke::setup_receiver::<
                hpke::aead::ChaCha20Poly1305,
                hpke::kdf::HkdfSha256,
                XWing,
            >(&OpModeR::Base, &private, &encapsulated, info)
            .expect("decapsulation of a well-formed encapsulation");
            let expected = export(&exporter_secret_base(&vector.ss, info), context, length);
            let mut from_sender = vec![0u8; length];
            let mut from_receiver = vec![0u8; length];
            let got = if encapsulated.to_bytes().as_slice() != vector.ct.as_slice() {
                Verdict::WrongAnswer("encapsulated key")
            } else if sender.export(context, &mut from_sender).is_err()
                || receiver.export(context, &mut from_receiver).is_err()
            {
                Verdict::Refused
            } else if from_sender != expected {
                Verdict::WrongAnswer("sender export")
            } else if from_receiver != expected {
                Verdict::WrongAnswer("receiver export")
            } else {
                Verdict::Accepted
            };
            tally.check(case, got, Verdict::Accepted);
        }
    }
    tally.finish(XWING_CASES * EXPORT_CASES.len());
}

/// Envelopes sealed under one encapsulation: seq, the entry id's fill byte and the plaintext.
/// The encapsulation is made for the first and reused for the others, as `Sealer` does
/// within its bounds.
const SEAL_CASES: [(u64, u8, &[u8]); 3] = [
    (1, 0x01, b"Beauty is truth, truth beauty"),
    (2, 0x02, b""),
    (u64::MAX, 0xff, &[0x42; 300]),
];

#[test]
fn parley_seal_is_the_documented_composition() {
    // docs/formats.md: info = "parley/1 seal" || link || from || to || epoch key id; each
    // envelope's key = Export("parley/1 envelope" || seq || entry id, 32); ciphertext =
    // ChaCha20-Poly1305(key, zero nonce, no aad). Recomputed here from the X-Wing answers.
    let parties = SealParties {
        link: LinkId([0x11; 16]),
        from: StationId([0x22; 32]),
        to: StationId([0x33; 32]),
    };
    let mut tally = Tally::new("parley seal over the X-Wing vectors");
    for (index, vector) in x_wing_draft_vectors().iter().enumerate() {
        let peer_key = PeerEpochKey::from_bytes(&vector.pk).expect("the X-Wing check accepts it");
        let key_id = EpochKeyId::of(&vector.pk);
        let info = [
            b"parley/1 seal".as_slice(),
            &parties.link.0,
            &parties.from.0,
            &parties.to.0,
            &key_id.0,
        ]
        .concat();
        let exporter_secret = exporter_secret_base(&vector.ss, &info);
        let keyring = Keyring::new(
            EpochSecret::from_secret_bytes(&vector.seed).expect("the X-Wing check accepts it"),
        );
        let mut randomness = Replay::new(&vector.eseed);
        let mut slot = None;
        let mut opener = Opener::default();
        for (seq, fill, plaintext) in SEAL_CASES {
            let entry_id = EntryId([fill; 32]);
            let sealed = Sealer::seal(
                &mut slot,
                &mut randomness,
                0,
                &parties,
                &peer_key,
                seq,
                &entry_id,
                plaintext,
            );
            let context = [
                b"parley/1 envelope".as_slice(),
                &seq.to_be_bytes(),
                &entry_id.0,
            ]
            .concat();
            let envelope_key = export(&exporter_secret, &context, 32);
            let expected = ChaCha20Poly1305::new_from_slice(&envelope_key)
                .expect("32-byte key")
                .encrypt(&Nonce::default(), plaintext)
                .expect("short plaintext");
            let opened = opener.open(
                &keyring,
                &parties,
                &key_id,
                &sealed.encapsulated,
                seq,
                &entry_id,
                &sealed.ciphertext,
            );
            let got = if sealed.encapsulated != vector.ct {
                Verdict::WrongAnswer("encapsulated key")
            } else if sealed.key_id != key_id {
                Verdict::WrongAnswer("key id")
            } else if sealed.ciphertext != expected {
                Verdict::WrongAnswer("ciphertext")
            } else {
                match opened {
                    Ok(opened) if opened == plaintext => Verdict::Accepted,
                    Ok(_) => Verdict::WrongAnswer("opened plaintext"),
                    Err(_) => Verdict::Refused,
                }
            };
            tally.check(format!("vector {index}, seq {seq}"), got, Verdict::Accepted);
        }
        assert!(
            randomness.is_spent(),
            "vector {index}: sealing drew less randomness than one encapsulation"
        );
    }
    tally.finish(XWING_CASES * SEAL_CASES.len());
}
