//! Known answers for every cryptographic primitive `parley-proto` links, called the way parley
//! calls it, so that a dependency upgrade that changes what a primitive computes, or what it
//! accepts, fails here before it reaches a station.
//!
//! | primitive | as parley uses it | vectors | cases |
//! |---|---|---|---|
//! | Ed25519 | `StationId::verifying_key`, `ed25519::verify` and `ed25519::Batch` (parley's rule; `verify_strict` must agree on every case) | Wycheproof `ed25519_test.json`, plus the eight small-order keys | 151 + 8 |
//! | X25519 | inside X-Wing (`x25519-dalek` `StaticSecret`) | Wycheproof `x25519_test.json` | 518 |
//! | ChaCha20-Poly1305 | envelope encryption (seal.rs) | Wycheproof `chacha20_poly1305_test.json` | 325 |
//! | ML-KEM-768 | inside X-Wing (`ml-kem`) | Wycheproof `mlkem_768_test.json`, `mlkem_768_encaps_test.json`, `mlkem_768_keygen_seed_test.json`, `mlkem_768_semi_expanded_decaps_test.json` | 201 + 265 + 100 + 9 |
//! | HKDF-SHA256 | the HPKE key schedule (`hkdf` under `hpke`) | Wycheproof `hkdf_sha256_test.json` | 86 |
//! | X-Wing | epoch keys and encapsulation (`hpke`'s `XWing`, seal.rs) | draft-connolly-cfrg-xwing-kem test vectors (`xwing_test_vectors.json`) | 3 |
//! | HPKE over HKDF-SHA256 and ChaCha20-Poly1305: key schedule, seal and open, export | `hpke`'s setup and export, which seal.rs runs with this KDF and AEAD, and this test's own recomputation of RFC 9180 §5 | RFC 9180 Appendix A.2, DHKEM(X25519, HKDF-SHA256), modes base, psk, auth and auth_psk (`rfc9180_x25519_sha256_chacha20poly1305.json`) | 4 key schedules + 4 setups + 4 × 257 encryptions + 4 × 3 exports |
//! | HPKE key schedule, export and parley's envelope seal over X-Wing | seal.rs, docs/formats.md | recomputed from RFC 9180 §5 (checked against A.2 above) over the X-Wing answers | 3 × 4 + 3 × 3 |
//!
//! Where the vectors come from. Every file is in `tests/vectors/`, read into this test with
//! `include_str!`; `tests/vectors/README.md` names each file's upstream source, revision and
//! licence, and [`VECTOR_FILES`] pins each file's SHA-256 (the README gives the same digests),
//! so a file edited by hand or replaced fails here, and so does a dependency upgrade whose
//! primitive no longer gives the published answers. Each file's case count is pinned as well.
//!
//! - The Wycheproof files are C2SP/wycheproof's `testvectors_v1` files, byte for byte: all but
//!   `mlkem_768_test.json` are those of commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, and
//!   that one is a later revision with 201 cases where the commit has 193.
//! - The X-Wing file is, value for value, `spec/test-vectors.json` of
//!   dconnolly/draft-connolly-cfrg-xwing-kem, unchanged from tag draft-connolly-cfrg-xwing-kem-05
//!   through -10 (commit 9b6ce9e614811dba8d46841052f3883cbc4c1a65), as the `x-wing` package
//!   ships it (indented).
//! - The RFC 9180 file holds the four entries of the HPKE draft's `test-vectors.json` (the JSON
//!   form of RFC 9180 Appendix A) for kem_id 0x0020, kdf_id 0x0001, aead_id 0x0003, each byte for
//!   byte as there.
//!
//! RFC 9180 publishes no vectors for X-Wing. Instead of a second-hand vector, the HPKE checks
//! over X-Wing recompute RFC 9180's key schedule and secret export with HKDF-SHA256 (checked
//! above) from the X-Wing shared secrets (checked above), and require `hpke` and parley's
//! `Sealer` to give exactly those bytes. The recomputation itself is first held to RFC 9180's
//! own answers: the A.2 check runs it with that suite's id and compares every intermediate
//! value of the key schedule and every export.
//!
//! Policy for Wycheproof's "acceptable" verdict, per primitive: X25519 computes RFC 7748's
//! function for every input, low-order points included (X-Wing hashes the X25519 share with the
//! ML-KEM share, so it needs no refusal there); every other primitive refuses what is not valid.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::fs;
use std::path::Path;

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit as _, Nonce};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use hkdf::Hkdf;
use hpke::aead::Aead as _;
use hpke::kdf::Kdf as _;
use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, PskBundle, Serializable as _};
use libcrux_ml_dsa::ml_dsa_44;
#[allow(deprecated)] // the semi-expanded decapsulation vectors need the legacy key form
use ml_kem::ExpandedKeyEncoding as _;
#[allow(deprecated)] // likewise
use ml_kem::ml_kem_768::ExpandedDecapsulationKey;
use ml_kem::ml_kem_768::{Ciphertext, DecapsulationKey, EncapsulationKey};
use ml_kem::{B32, Decapsulate as _, FromSeed as _, KeyExport as _, MlKem768, Seed};
use parley_proto::ed25519;
use parley_proto::pq::PQ_SIGNATURE_BYTES;
use parley_proto::seal::{EpochSecret, Keyring, Opener, PeerEpochKey, SealParties, Sealer};
use parley_proto::{EntryId, EpochKeyId, LinkId, PqPublicKey, PqSigningKey, StationId};
use rand_core::{TryCryptoRng, TryRng};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use sha2::{Digest as _, Sha256};

/// A vector file shipped in `tests/vectors/`, with the SHA-256 of the reviewed file.
struct VectorFile {
    name: &'static str,
    text: &'static str,
    sha256: &'static str,
}

impl VectorFile {
    /// The file's text, once it is the file whose vectors were reviewed.
    fn text(&self) -> &'static str {
        assert_eq!(
            hex::encode(Sha256::digest(self.text.as_bytes())),
            self.sha256,
            "tests/vectors/{} is not the reviewed file; check its vectors against their source, \
             then update the digest here and in tests/vectors/README.md",
            self.name
        );
        self.text
    }
}

/// A `VectorFile` for a file in `tests/vectors/`, built into the test binary.
macro_rules! vector_file {
    ($name:literal, $sha256:literal) => {
        VectorFile {
            name: $name,
            text: include_str!(concat!("vectors/", $name)),
            sha256: $sha256,
        }
    };
}

const ED25519_FILE: VectorFile = vector_file!(
    "ed25519_test.json",
    "752d2ea7d7c6cf4736381b6cbacb61f8182b126ab7cd9b058f00c50084975536"
);
const X25519_FILE: VectorFile = vector_file!(
    "x25519_test.json",
    "35c3f5231cf25cc640b524d403461deee9e49441d5d915a3a25b2c8ff5adbe7d"
);
const CHACHA20_POLY1305_FILE: VectorFile = vector_file!(
    "chacha20_poly1305_test.json",
    "fe61d25f90e1bde4461d00eafe61049e5f29bd999f36b766df9cda90906ad53d"
);
const MLKEM_768_FILE: VectorFile = vector_file!(
    "mlkem_768_test.json",
    "c59c067ae794c343df575dd90f6f7458f51881b11a22d6e9d8677c8d9ee21e90"
);
const MLKEM_768_ENCAPS_FILE: VectorFile = vector_file!(
    "mlkem_768_encaps_test.json",
    "9d4381f94c40853bba430245b94968b7390d9175aacd9f1ae4e250a71c78b713"
);
const MLKEM_768_KEYGEN_SEED_FILE: VectorFile = vector_file!(
    "mlkem_768_keygen_seed_test.json",
    "fde5abe284396f4cb3c4610b90d680f0b57782e94c3365c97aee59e24881ebe4"
);
const MLKEM_768_SEMI_EXPANDED_DECAPS_FILE: VectorFile = vector_file!(
    "mlkem_768_semi_expanded_decaps_test.json",
    "e4438ab7d4dd7b6ace7165e45aeed4403082f981f86300c8369f69d3d071060a"
);
const HKDF_SHA256_FILE: VectorFile = vector_file!(
    "hkdf_sha256_test.json",
    "bb2b462a38b251cb52a2aede706d6d4b62b26864f4e80c95497507ddb07c5f1e"
);
/// The X-Wing draft's `spec/test-vectors.json`, as the `x-wing` package indents it.
const XWING_FILE: VectorFile = vector_file!(
    "xwing_test_vectors.json",
    "a8726596f4c7629590f727b1bbeb483f6932292fbf5fd85c9cbb803190014f00"
);
/// RFC 9180 Appendix A.2's entries of the HPKE draft's `test-vectors.json`.
const HPKE_A2_FILE: VectorFile = vector_file!(
    "rfc9180_x25519_sha256_chacha20poly1305.json",
    "a3e9e228f96bd19eff4e7d4d9c1fee344250ee90262d185265b5dc72bd3f16f1"
);

const MLDSA_44_SIGN_SEED_FILE: VectorFile = vector_file!(
    "mldsa_44_sign_seed_test.json",
    "b29b0dcca2e52c988e1b9c06f8b521889ffbaadfc6a9dbf52f0f0f8f4c5b6b92"
);
const MLDSA_44_VERIFY_FILE: VectorFile = vector_file!(
    "mldsa_44_verify_test.json",
    "0ca1b5df4575263e29b31fae7569a3da41df9a3b6fee56720a992d0cd1153b68"
);

/// Every vector file this test reads; `tests/vectors/` holds these, its README and its
/// `.gitattributes`, and nothing else.
const VECTOR_FILES: [&VectorFile; 12] = [
    &ED25519_FILE,
    &X25519_FILE,
    &CHACHA20_POLY1305_FILE,
    &MLKEM_768_FILE,
    &MLKEM_768_ENCAPS_FILE,
    &MLKEM_768_KEYGEN_SEED_FILE,
    &MLKEM_768_SEMI_EXPANDED_DECAPS_FILE,
    &HKDF_SHA256_FILE,
    &XWING_FILE,
    &HPKE_A2_FILE,
    &MLDSA_44_SIGN_SEED_FILE,
    &MLDSA_44_VERIFY_FILE,
];

/// Cases in `ed25519_test.json`.
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
/// Cases in `mldsa_44_sign_seed_test.json` (seed, message or μ, context, signature).
const MLDSA_44_SIGN_SEED_CASES: usize = 86;
/// Of those, the cases given only μ (FIPS 204's internal interface), not checked.
const MLDSA_44_SIGN_SEED_MU_ONLY_CASES: usize = 8;
/// Cases in `mldsa_44_verify_test.json` (public key, message, context, signature).
const MLDSA_44_VERIFY_CASES: usize = 180;
/// Vectors in the X-Wing draft's test-vectors file.
const XWING_CASES: usize = 3;
/// Setups in the RFC 9180 A.2 file: one for each mode (base, psk, auth, auth_psk).
const HPKE_A2_SETUPS: usize = 4;
/// Encryptions under each A.2 setup: sequence numbers 0 to 256 (the RFC's text prints six).
const HPKE_A2_ENCRYPTIONS_PER_SETUP: usize = 257;
/// Exports from each A.2 setup.
const HPKE_A2_EXPORTS_PER_SETUP: usize = 3;

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
/// RFC 9180 KEM id of DHKEM(X25519, HKDF-SHA256), the KEM of Appendix A.2.
const KEM_ID_X25519_HKDF_SHA256: u16 = 0x0020;
/// RFC 9180 KDF id of HKDF-SHA256, parley's KDF.
const KDF_ID_HKDF_SHA256: u16 = 0x0001;
/// RFC 9180 AEAD id of ChaCha20-Poly1305, parley's AEAD.
const AEAD_ID_CHACHA20_POLY1305: u16 = 0x0003;

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
struct WycheproofFile<G> {
    number_of_tests: usize,
    test_groups: Vec<G>,
}

/// A group of a Wycheproof file: how many cases it holds.
trait Cases {
    fn cases(&self) -> usize;
}

impl<C> Cases for Group<C> {
    fn cases(&self) -> usize {
        self.tests.len()
    }
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
fn load<G: DeserializeOwned + Cases>(json: &str, file: &str, cases_expected: usize) -> Vec<G> {
    let parsed: WycheproofFile<G> =
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{file} does not parse: {error}"));
    let counted: usize = parsed.test_groups.iter().map(Cases::cases).sum();
    assert_eq!(
        counted, parsed.number_of_tests,
        "{file}: the cases found differ from the header's numberOfTests"
    );
    assert_eq!(
        counted, cases_expected,
        "{file}: the file's case count changed; read the new cases, then update the count"
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
/// (`StationId::verifying_key`), the signature parsed as cose.rs does and checked under
/// parley's rule (`ed25519::verify`). A batch of the one signature must say the same, and so
/// must ed25519-dalek's `verify_strict` (the two rules differ only on signatures whose R or key
/// has a small-order component, which Wycheproof's file does not hold; `ed25519::tests` has
/// them).
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
    let verdict = |accepted: bool| {
        if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        }
    };
    let alone = verdict(ed25519::verify(&key, message, &signature).is_ok());
    let mut batch = ed25519::Batch::new();
    let batched = batch
        .push(&key, message, &signature)
        .and_then(|()| batch.verify());
    assert_eq!(verdict(batched.is_ok()), alone, "a batch of one disagrees");
    let strict = verdict(key.verify_strict(message, &signature).is_ok());
    assert_eq!(strict, alone, "verify_strict disagrees");
    alone
}

#[test]
fn ed25519_strict_verification_matches_wycheproof() {
    let file = ED25519_FILE.name;
    let groups: Vec<Group<SignatureCase>> = load(ED25519_FILE.text(), file, ED25519_CASES);
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
    // Batches: the valid signatures (of every group, under their keys) pass together, and
    // each refused one fails the batch it joins.
    let mut valid = Vec::new();
    let mut refused = Vec::new();
    for group in &groups {
        let public_key = &group.public_key.as_ref().expect("a key").pk;
        let Ok(key) =
            StationId(<[u8; 32]>::try_from(&public_key[..]).expect("32 bytes")).verifying_key()
        else {
            continue;
        };
        for case in &group.tests {
            let Ok(signature) = Signature::from_slice(&case.sig) else {
                continue;
            };
            match verify_as_parley(public_key, &case.msg, &case.sig) {
                Verdict::Accepted => valid.push((key, &case.msg, signature, case.header.tc_id)),
                _ => refused.push((key, &case.msg, signature, case.header.tc_id)),
            }
        }
    }
    let batch_with = |extra: Option<&(VerifyingKey, &Vec<u8>, Signature, usize)>| {
        let mut batch = ed25519::Batch::new();
        for (key, message, signature, _) in valid.iter().chain(extra) {
            batch.push(key, message, signature)?;
        }
        batch.verify()
    };
    assert!(batch_with(None).is_ok(), "{file}: the valid signatures");
    for bad in &refused {
        assert!(
            batch_with(Some(bad)).is_err(),
            "{file}: case {} passed in a batch",
            bad.3
        );
    }
    assert!(
        valid.len() > 1 && !refused.is_empty(),
        "{file}: no batch mixed valid and refused cases"
    );
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
    let file = X25519_FILE.name;
    let groups: Vec<Group<AgreementCase>> = load(X25519_FILE.text(), file, X25519_CASES);
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
    let file = CHACHA20_POLY1305_FILE.name;
    let groups: Vec<Group<AeadCase>> =
        load(CHACHA20_POLY1305_FILE.text(), file, CHACHA20_POLY1305_CASES);
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
    let files: [(&VectorFile, usize, Run); 4] = [
        (&MLKEM_768_FILE, MLKEM_768_CASES, mlkem_decaps_from_seed),
        (&MLKEM_768_ENCAPS_FILE, MLKEM_768_ENCAPS_CASES, mlkem_encaps),
        (
            &MLKEM_768_KEYGEN_SEED_FILE,
            MLKEM_768_KEYGEN_SEED_CASES,
            mlkem_keygen_from_seed,
        ),
        (
            &MLKEM_768_SEMI_EXPANDED_DECAPS_FILE,
            MLKEM_768_SEMI_EXPANDED_DECAPS_CASES,
            mlkem_decaps_from_expanded,
        ),
    ];
    for (vectors, cases, run) in files {
        let groups: Vec<Group<MlKemCase>> = load(vectors.text(), vectors.name, cases);
        let mut tally = Tally::new(vectors.name);
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
    let file = HKDF_SHA256_FILE.name;
    let groups: Vec<Group<HkdfCase>> = load(HKDF_SHA256_FILE.text(), file, HKDF_SHA256_CASES);
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

/// Reads the X-Wing draft's vectors.
fn x_wing_draft_vectors() -> Vec<XWingVector> {
    let vectors: Vec<XWingVector> = serde_json::from_str(XWING_FILE.text())
        .unwrap_or_else(|error| panic!("{} does not parse: {error}", XWING_FILE.name));
    assert_eq!(vectors.len(), XWING_CASES, "{}", XWING_FILE.name);
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
    let mut tally = Tally::new(XWING_FILE.name);
    for (index, vector) in x_wing_draft_vectors().iter().enumerate() {
        tally.check(
            format!("vector {index}"),
            x_wing_verdict(vector),
            Verdict::Accepted,
        );
    }
    tally.finish(XWING_CASES);
}

/// RFC 9180 `suite_id` of an HPKE suite (§5.1): "HPKE" and the KEM, KDF and AEAD ids.
fn hpke_suite_id(kem_id: u16, kdf_id: u16, aead_id: u16) -> Vec<u8> {
    [
        b"HPKE".as_slice(),
        &kem_id.to_be_bytes(),
        &kdf_id.to_be_bytes(),
        &aead_id.to_be_bytes(),
    ]
    .concat()
}

/// RFC 9180 `LabeledExtract` over HKDF-SHA256 for the suite `suite_id`, returning the
/// pseudorandom key.
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Vec<u8> {
    let labeled_ikm = [b"HPKE-v1".as_slice(), suite_id, label, ikm].concat();
    Hkdf::<Sha256>::extract(Some(salt), &labeled_ikm).0.to_vec()
}

/// RFC 9180 `LabeledExpand` over HKDF-SHA256 for the suite `suite_id`.
fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    length: usize,
) -> Vec<u8> {
    let length_prefix = u16::try_from(length)
        .expect("HPKE lengths fit two bytes")
        .to_be_bytes();
    let labeled_info = [&length_prefix, b"HPKE-v1".as_slice(), suite_id, label, info].concat();
    let hkdf = Hkdf::<Sha256>::from_prk(prk).expect("an extracted key is a valid PRK");
    let mut okm = vec![0u8; length];
    hkdf.expand(&labeled_info, &mut okm)
        .expect("HPKE never asks for more than 255 hash lengths");
    okm
}

/// What RFC 9180 §5.1's `KeySchedule` computes for a suite over HKDF-SHA256 and
/// ChaCha20-Poly1305 (a 32-byte key, a 12-byte nonce).
struct KeySchedule {
    context: Vec<u8>,
    secret: Vec<u8>,
    key: Vec<u8>,
    base_nonce: Vec<u8>,
    exporter_secret: Vec<u8>,
}

impl KeySchedule {
    /// RFC 9180 §5.1's `KeySchedule` in `mode`; `psk` and `psk_id` are empty in the modes
    /// without a PSK.
    fn new(
        suite_id: &[u8],
        mode: u8,
        shared_secret: &[u8],
        info: &[u8],
        psk: &[u8],
        psk_id: &[u8],
    ) -> Self {
        let psk_id_hash = labeled_extract(suite_id, b"", b"psk_id_hash", psk_id);
        let info_hash = labeled_extract(suite_id, b"", b"info_hash", info);
        let context = [&[mode][..], &psk_id_hash, &info_hash].concat();
        let secret = labeled_extract(suite_id, shared_secret, b"secret", psk);
        Self {
            key: labeled_expand(suite_id, &secret, b"key", &context, 32),
            base_nonce: labeled_expand(suite_id, &secret, b"base_nonce", &context, 12),
            exporter_secret: labeled_expand(suite_id, &secret, b"exp", &context, 32),
            context,
            secret,
        }
    }
}

/// RFC 9180 §5.1's `exporter_secret` of parley's suite in mode_base (no PSK).
fn exporter_secret_base(shared_secret: &[u8], info: &[u8]) -> Vec<u8> {
    KeySchedule::new(SUITE_ID, MODE_BASE, shared_secret, info, b"", b"").exporter_secret
}

/// RFC 9180 §5.3's secret export.
fn export(suite_id: &[u8], exporter_secret: &[u8], context: &[u8], length: usize) -> Vec<u8> {
    labeled_expand(suite_id, exporter_secret, b"sec", context, length)
}

/// RFC 9180 §5.2's `ComputeNonce`: the base nonce XOR the sequence number, big-endian.
fn compute_nonce(base_nonce: &[u8], seq: u64) -> Vec<u8> {
    let mut nonce = base_nonce.to_vec();
    for (byte, seq_byte) in nonce.iter_mut().rev().zip(seq.to_le_bytes()) {
        *byte ^= seq_byte;
    }
    nonce
}

/// One entry of the RFC 9180 A.2 file: a setup in one mode, with its key material, its key
/// schedule, and the encryptions and exports made with it.
#[derive(Deserialize)]
struct HpkeVector {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    #[serde(deserialize_with = "hex_bytes")]
    info: Vec<u8>,
    #[serde(rename = "ikmR", deserialize_with = "hex_bytes")]
    ikm_r: Vec<u8>,
    #[serde(rename = "ikmS", default, deserialize_with = "hex_option")]
    ikm_s: Option<Vec<u8>>,
    #[serde(rename = "ikmE", deserialize_with = "hex_bytes")]
    ikm_e: Vec<u8>,
    #[serde(rename = "skRm", deserialize_with = "hex_bytes")]
    sk_r: Vec<u8>,
    #[serde(rename = "skSm", default, deserialize_with = "hex_option")]
    sk_s: Option<Vec<u8>>,
    #[serde(rename = "skEm", deserialize_with = "hex_bytes")]
    sk_e: Vec<u8>,
    #[serde(rename = "pkRm", deserialize_with = "hex_bytes")]
    pk_r: Vec<u8>,
    #[serde(rename = "pkSm", default, deserialize_with = "hex_option")]
    pk_s: Option<Vec<u8>>,
    #[serde(rename = "pkEm", deserialize_with = "hex_bytes")]
    pk_e: Vec<u8>,
    #[serde(default, deserialize_with = "hex_option")]
    psk: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    psk_id: Option<Vec<u8>>,
    #[serde(deserialize_with = "hex_bytes")]
    enc: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    shared_secret: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    key_schedule_context: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    secret: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    base_nonce: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    exporter_secret: Vec<u8>,
    encryptions: Vec<HpkeEncryption>,
    exports: Vec<HpkeExport>,
}

/// One encryption of an A.2 setup; the n-th in the file has sequence number n.
#[derive(Deserialize)]
struct HpkeEncryption {
    #[serde(deserialize_with = "hex_bytes")]
    pt: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    aad: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    nonce: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    ct: Vec<u8>,
}

/// One export of an A.2 setup.
#[derive(Deserialize)]
struct HpkeExport {
    #[serde(deserialize_with = "hex_bytes")]
    exporter_context: Vec<u8>,
    #[serde(rename = "L")]
    length: usize,
    #[serde(deserialize_with = "hex_bytes")]
    exported_value: Vec<u8>,
}

/// The A.2 suite as `hpke` names it.
type A2Kem = X25519HkdfSha256;
type A2Kdf = hpke::kdf::HkdfSha256;
type A2Aead = hpke::aead::ChaCha20Poly1305;
type A2Sender = hpke::aead::AeadCtxS<A2Aead, A2Kdf, A2Kem>;
type A2Receiver = hpke::aead::AeadCtxR<A2Aead, A2Kdf, A2Kem>;

/// Reads the RFC 9180 A.2 entries and checks they are the suite and the shape this test
/// expects: one setup per mode, each with its 257 encryptions and 3 exports.
fn hpke_a2_vectors() -> Vec<HpkeVector> {
    let file = HPKE_A2_FILE.name;
    let vectors: Vec<HpkeVector> = serde_json::from_str(HPKE_A2_FILE.text())
        .unwrap_or_else(|error| panic!("{file} does not parse: {error}"));
    assert_eq!(vectors.len(), HPKE_A2_SETUPS, "{file}: setups");
    let modes: BTreeSet<u8> = vectors.iter().map(|vector| vector.mode).collect();
    assert_eq!(
        modes,
        BTreeSet::from([0, 1, 2, 3]),
        "{file}: one setup per mode"
    );
    for vector in &vectors {
        assert_eq!(
            (vector.kem_id, vector.kdf_id, vector.aead_id),
            (
                KEM_ID_X25519_HKDF_SHA256,
                KDF_ID_HKDF_SHA256,
                AEAD_ID_CHACHA20_POLY1305
            ),
            "{file}: mode {} is another suite",
            vector.mode
        );
        assert_eq!(
            vector.encryptions.len(),
            HPKE_A2_ENCRYPTIONS_PER_SETUP,
            "{file}: mode {} encryptions",
            vector.mode
        );
        assert_eq!(
            vector.exports.len(),
            HPKE_A2_EXPORTS_PER_SETUP,
            "{file}: mode {} exports",
            vector.mode
        );
    }
    vectors
}

/// RFC 7748's `decodeScalar25519` clamping, which RFC 9180 §7.1.2 requires of X25519's
/// `SerializePrivateKey`. The A.2 vectors print each private key as `DeriveKeyPair` expands
/// it, before that clamping, so a serialized key is compared with the clamped vector key.
fn clamp_x25519(scalar: &[u8]) -> Vec<u8> {
    let mut clamped = scalar.to_vec();
    if let [first, .., last] = clamped.as_mut_slice() {
        *first &= 0b1111_1000;
        *last = (*last & 0b0111_1111) | 0b0100_0000;
    }
    clamped
}

/// Derives a key pair from `ikm` with `hpke`'s `derive_keypair` and compares its serialized
/// keys with the vector's.
fn a2_keypair(
    ikm: &[u8],
    sk: &[u8],
    pk: &[u8],
    names: (&'static str, &'static str),
) -> Result<
    (
        <A2Kem as hpke::Kem>::PrivateKey,
        <A2Kem as hpke::Kem>::PublicKey,
    ),
    Verdict,
> {
    let (private, public) = A2Kem::derive_keypair(ikm);
    same(&private.to_bytes(), Some(&clamp_x25519(sk)), names.0)?;
    same(&public.to_bytes(), Some(&pk.to_vec()), names.1)?;
    Ok((private, public))
}

/// RFC 9180 §5.1's key schedule as this test recomputes it (the recomputation the X-Wing
/// checks rely on), run on an A.2 setup's shared secret, info and PSK with the A.2 suite's id:
/// every intermediate value must be the vector's.
fn hpke_a2_key_schedule(vector: &HpkeVector) -> Result<(), Verdict> {
    let schedule = KeySchedule::new(
        &hpke_suite_id(vector.kem_id, vector.kdf_id, vector.aead_id),
        vector.mode,
        &vector.shared_secret,
        &vector.info,
        vector.psk.as_deref().unwrap_or_default(),
        vector.psk_id.as_deref().unwrap_or_default(),
    );
    same(
        &schedule.context,
        Some(&vector.key_schedule_context),
        "key_schedule_context",
    )?;
    same(&schedule.secret, Some(&vector.secret), "secret")?;
    same(&schedule.key, Some(&vector.key), "key")?;
    same(&schedule.base_nonce, Some(&vector.base_nonce), "base_nonce")?;
    same(
        &schedule.exporter_secret,
        Some(&vector.exporter_secret),
        "exporter_secret",
    )
}

/// One A.2 setup through `hpke`: the key pairs derived from the vector's ikm, the shared secret
/// decapsulated (with the sender's key in the auth modes), and both contexts set up in the
/// vector's mode, the sender's with the vector's ikmE as its only randomness so that its
/// encapsulation is the vector's.
fn hpke_a2_setup(vector: &HpkeVector) -> Result<(A2Sender, A2Receiver), Verdict> {
    let (sk_r, pk_r) = a2_keypair(&vector.ikm_r, &vector.sk_r, &vector.pk_r, ("skRm", "pkRm"))?;
    a2_keypair(&vector.ikm_e, &vector.sk_e, &vector.pk_e, ("skEm", "pkEm"))?;
    let sender_keys = vector
        .ikm_s
        .as_ref()
        .map(|ikm| {
            let (Some(sk_s), Some(pk_s)) = (&vector.sk_s, &vector.pk_s) else {
                panic!("mode {}: ikmS without skSm and pkSm", vector.mode);
            };
            a2_keypair(ikm, sk_s, pk_s, ("skSm", "pkSm"))
        })
        .transpose()?;
    let psk = match (&vector.psk, &vector.psk_id) {
        (Some(psk), Some(psk_id)) => {
            Some(PskBundle::new(psk, psk_id).map_err(|_| Verdict::Refused)?)
        }
        (None, None) => None,
        _ => panic!("mode {}: a PSK without its id, or an id alone", vector.mode),
    };
    let (mode_s, mode_r) = match (vector.mode, sender_keys, psk) {
        (0, None, None) => (OpModeS::Base, OpModeR::Base),
        (1, None, Some(psk)) => (OpModeS::Psk(psk), OpModeR::Psk(psk)),
        (2, Some((sk_s, pk_s)), None) => (OpModeS::Auth((sk_s, pk_s.clone())), OpModeR::Auth(pk_s)),
        (3, Some((sk_s, pk_s)), Some(psk)) => (
            OpModeS::AuthPsk((sk_s, pk_s.clone()), psk),
            OpModeR::AuthPsk(pk_s, psk),
        ),
        (mode, ..) => panic!("mode {mode} comes with another mode's key material"),
    };

    let encapsulated =
        <A2Kem as hpke::Kem>::EncappedKey::from_bytes(&vector.enc).map_err(|_| Verdict::Refused)?;
    let pk_s = match &mode_r {
        OpModeR::Auth(pk_s) | OpModeR::AuthPsk(pk_s, _) => Some(pk_s),
        _ => None,
    };
    let shared = A2Kem::decap(&sk_r, pk_s, &encapsulated).map_err(|_| Verdict::Refused)?;
    same(&shared.0, Some(&vector.shared_secret), "shared_secret")?;

    let mut randomness = Replay::new(&vector.ikm_e);
    let (sent_encapsulated, sender) = hpke::setup_sender_with_rng::<A2Aead, A2Kdf, A2Kem>(
        &mode_s,
        &pk_r,
        &vector.info,
        &mut randomness,
    )
    .map_err(|_| Verdict::Refused)?;
    if !randomness.is_spent() {
        return Err(Verdict::WrongAnswer("randomness drawn"));
    }
    same(&sent_encapsulated.to_bytes(), Some(&vector.enc), "enc")?;
    let receiver =
        hpke::setup_receiver::<A2Aead, A2Kdf, A2Kem>(&mode_r, &sk_r, &encapsulated, &vector.info)
            .map_err(|_| Verdict::Refused)?;
    Ok((sender, receiver))
}

/// The encryption with sequence number `seq` of an A.2 setup: its nonce is RFC 9180 §5.2's,
/// ChaCha20-Poly1305 under the setup's key and that nonce gives its ciphertext, the sender's
/// context seals the plaintext to it and the receiver's context opens it, both at that point
/// of their sequence.
fn hpke_a2_encryption(
    vector: &HpkeVector,
    seq: u64,
    encryption: &HpkeEncryption,
    sender: &mut A2Sender,
    receiver: &mut A2Receiver,
) -> Result<(), Verdict> {
    // Both contexts take their step first, so that a wrong answer here does not put the
    // encryptions after it out of step. A context moves on only when it opens, so when the
    // vector's ciphertext does not open, the receiver is moved on with what the sender sealed.
    let sealed = sender.seal(&encryption.pt, &encryption.aad);
    let opened = receiver.open(&encryption.ct, &encryption.aad);
    if let (Err(_), Ok(sealed)) = (&opened, &sealed) {
        let _in_step = receiver.open(sealed, &encryption.aad);
    }
    same(
        &compute_nonce(&vector.base_nonce, seq),
        Some(&encryption.nonce),
        "nonce",
    )?;
    let nonce = Nonce::try_from(encryption.nonce.as_slice()).map_err(|_| Verdict::Refused)?;
    let payload = Payload {
        msg: &encryption.pt,
        aad: &encryption.aad,
    };
    let direct = ChaCha20Poly1305::new_from_slice(&vector.key)
        .map_err(|_| Verdict::Refused)?
        .encrypt(&nonce, payload)
        .map_err(|_| Verdict::Refused)?;
    same(
        &direct,
        Some(&encryption.ct),
        "ct (ChaCha20-Poly1305 under key and nonce)",
    )?;
    same(
        &sealed.map_err(|_| Verdict::Refused)?,
        Some(&encryption.ct),
        "ct (sender context)",
    )?;
    same(
        &opened.map_err(|_| Verdict::Refused)?,
        Some(&encryption.pt),
        "pt (receiver context)",
    )
}

/// One export of an A.2 setup: RFC 9180 §5.3 recomputed from the vector's exporter secret,
/// and both `hpke` contexts, give the exported value.
fn hpke_a2_export(
    vector: &HpkeVector,
    export_case: &HpkeExport,
    sender: &A2Sender,
    receiver: &A2Receiver,
) -> Result<(), Verdict> {
    let suite_id = hpke_suite_id(vector.kem_id, vector.kdf_id, vector.aead_id);
    let recomputed = export(
        &suite_id,
        &vector.exporter_secret,
        &export_case.exporter_context,
        export_case.length,
    );
    same(
        &recomputed,
        Some(&export_case.exported_value),
        "export (recomputed)",
    )?;
    let mut from_sender = vec![0u8; export_case.length];
    let mut from_receiver = vec![0u8; export_case.length];
    sender
        .export(&export_case.exporter_context, &mut from_sender)
        .map_err(|_| Verdict::Refused)?;
    receiver
        .export(&export_case.exporter_context, &mut from_receiver)
        .map_err(|_| Verdict::Refused)?;
    same(
        &from_sender,
        Some(&export_case.exported_value),
        "export (sender context)",
    )?;
    same(
        &from_receiver,
        Some(&export_case.exported_value),
        "export (receiver context)",
    )
}

#[test]
fn hpke_matches_rfc_9180_a2() {
    assert_eq!(
        (A2Kem::KEM_ID, A2Kdf::KDF_ID, A2Aead::AEAD_ID),
        (
            KEM_ID_X25519_HKDF_SHA256,
            KDF_ID_HKDF_SHA256,
            AEAD_ID_CHACHA20_POLY1305
        ),
        "hpke's ids for the A.2 suite"
    );
    assert_eq!(
        hpke_suite_id(XWing::KEM_ID, A2Kdf::KDF_ID, A2Aead::AEAD_ID),
        SUITE_ID,
        "parley's suite id is X-Wing's KEM with the A.2 suite's KDF and AEAD"
    );
    let mut tally = Tally::new(HPKE_A2_FILE.name);
    for vector in hpke_a2_vectors() {
        let mode = vector.mode;
        tally.check(
            format!("mode {mode} key schedule (recomputed)"),
            hpke_a2_key_schedule(&vector)
                .err()
                .unwrap_or(Verdict::Accepted),
            Verdict::Accepted,
        );
        let setup = hpke_a2_setup(&vector);
        tally.check(
            format!("mode {mode} setup"),
            setup.as_ref().err().copied().unwrap_or(Verdict::Accepted),
            Verdict::Accepted,
        );
        let Ok((mut sender, mut receiver)) = setup else {
            // Without contexts nothing further can run; each case is still named as failed.
            for seq in 0..vector.encryptions.len() + vector.exports.len() {
                tally.check(
                    format!("mode {mode} case {seq} (no setup)"),
                    Verdict::Refused,
                    Verdict::Accepted,
                );
            }
            continue;
        };
        for (seq, encryption) in (0u64..).zip(&vector.encryptions) {
            let got = hpke_a2_encryption(&vector, seq, encryption, &mut sender, &mut receiver)
                .err()
                .unwrap_or(Verdict::Accepted);
            tally.check(format!("mode {mode} seq {seq}"), got, Verdict::Accepted);
        }
        for (index, export_case) in vector.exports.iter().enumerate() {
            let got = hpke_a2_export(&vector, export_case, &sender, &receiver)
                .err()
                .unwrap_or(Verdict::Accepted);
            tally.check(
                format!(
                    "mode {mode} export {index} (context {:?})",
                    hex::encode(&export_case.exporter_context)
                ),
                got,
                Verdict::Accepted,
            );
        }
    }
    // Per setup: its key schedule, the setup itself, its encryptions and its exports.
    tally.finish(HPKE_A2_SETUPS * (2 + HPKE_A2_ENCRYPTIONS_PER_SETUP + HPKE_A2_EXPORTS_PER_SETUP));
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
            let expected = export(
                SUITE_ID,
                &exporter_secret_base(&vector.ss, info),
                context,
                length,
            );
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
            let envelope_key = export(SUITE_ID, &exporter_secret, &context, 32);
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

/// An ML-DSA group: the key its cases sign or verify with (ML-DSA files give the public key
/// as hex, not as an object; null where the seed is of the wrong length).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MlDsaGroup {
    #[serde(default, deserialize_with = "hex_option")]
    private_seed: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    public_key: Option<Vec<u8>>,
    tests: Vec<MlDsaCase>,
}

impl Cases for MlDsaGroup {
    fn cases(&self) -> usize {
        self.tests.len()
    }
}

/// An ML-DSA case: a message (or, for the internal interface, only μ), a context, a signature.
#[derive(Deserialize)]
struct MlDsaCase {
    #[serde(flatten)]
    header: Header,
    #[serde(default, deserialize_with = "hex_option")]
    msg: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    mu: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "hex_option")]
    ctx: Option<Vec<u8>>,
    #[serde(deserialize_with = "hex_bytes")]
    sig: Vec<u8>,
}

/// Verifies as parley does (`PqPublicKey::from_bytes`, then `verify`: the implementation's
/// AVX2 code on a CPU that has it). Its portable code, which runs on CPUs without, must say
/// the same.
fn mldsa_verify(public_key: &[u8], case: &MlDsaCase) -> Verdict {
    let (Some(key), Some(msg)) = (PqPublicKey::from_bytes(public_key), &case.msg) else {
        return Verdict::Refused;
    };
    let ctx = case.ctx.as_deref().unwrap_or_default();
    let accepted = key.verify(msg, ctx, &case.sig);
    let portable = <[u8; PQ_SIGNATURE_BYTES]>::try_from(&case.sig[..]).is_ok_and(|sig| {
        ml_dsa_44::portable::verify(
            &ml_dsa_44::MLDSA44VerificationKey::new(*key.as_bytes()),
            msg,
            ctx,
            &ml_dsa_44::MLDSA44Signature::new(sig),
        )
        .is_ok()
    });
    match (accepted, portable) {
        (true, true) => Verdict::Accepted,
        (false, false) => Verdict::Refused,
        _ => Verdict::WrongAnswer("the portable code verifies otherwise"),
    }
}

/// The portable code's key from seed ξ and deterministic signature, for comparing with the
/// code parley runs.
fn mldsa_sign_portable(seed: [u8; 32], msg: &[u8], ctx: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let pair = ml_dsa_44::portable::generate_key_pair(seed);
    let signature = ml_dsa_44::portable::sign(&pair.signing_key, msg, ctx, [0; 32])
        .expect("a context of at most 255 bytes");
    (
        pair.verification_key.as_slice().to_vec(),
        signature.as_slice().to_vec(),
    )
}

/// Signs as parley does: the key from its seed ξ (`PqSigningKey::from_xi`) must have the
/// group's public key, and the deterministic signature must be the case's. A case signed with
/// fresh randomness (hedged) is checked by verification. A case given only μ, not the message,
/// is for FIPS 204's internal interface, which parley does not call and its implementation
/// does not offer: those are counted apart, and must be exactly
/// [`MLDSA_44_SIGN_SEED_MU_ONLY_CASES`].
fn mldsa_sign(group: &MlDsaGroup, case: &MlDsaCase) -> Verdict {
    let Some(seed) = group
        .private_seed
        .as_deref()
        .and_then(|seed| <[u8; 32]>::try_from(seed).ok())
    else {
        return Verdict::Refused;
    };
    let key = PqSigningKey::from_xi(&seed);
    let public_key = group.public_key.as_deref().unwrap_or_default();
    if key.public().as_bytes()[..] != public_key[..] {
        return Verdict::WrongAnswer("public key");
    }
    let ctx = case.ctx.as_deref().unwrap_or_default();
    if ctx.len() > 255 {
        // FIPS 204 bounds the context; parley signs only under fixed short ones.
        return mldsa_verify(public_key, case);
    }
    let signature = match (&case.msg, &case.mu) {
        _ if case.header.flags.iter().any(|f| f == "Randomized") => {
            return mldsa_verify(public_key, case);
        }
        (Some(msg), _) => {
            let signature = key.sign(msg, ctx).to_vec();
            if mldsa_sign_portable(seed, msg, ctx) != (public_key.to_vec(), signature.clone()) {
                return Verdict::WrongAnswer("the portable code signs otherwise");
            }
            signature
        }
        (None, _) => return Verdict::Refused,
    };
    if signature == case.sig {
        Verdict::Accepted
    } else {
        Verdict::WrongAnswer("signature")
    }
}

#[test]
fn mldsa_44_signing_matches_wycheproof() {
    let file = MLDSA_44_SIGN_SEED_FILE.name;
    let groups: Vec<MlDsaGroup> = load(
        MLDSA_44_SIGN_SEED_FILE.text(),
        file,
        MLDSA_44_SIGN_SEED_CASES,
    );
    let mut tally = Tally::new(file);
    let mut mu_only = 0;
    for group in &groups {
        for case in &group.tests {
            if case.msg.is_none() && case.mu.is_some() {
                mu_only += 1;
                continue;
            }
            let expect = case.header.result.verdict(Verdict::Refused);
            tally.check(&case.header, mldsa_sign(group, case), expect);
        }
    }
    assert_eq!(
        mu_only, MLDSA_44_SIGN_SEED_MU_ONLY_CASES,
        "{file}: cases given only μ"
    );
    tally.finish(MLDSA_44_SIGN_SEED_CASES - MLDSA_44_SIGN_SEED_MU_ONLY_CASES);
}

#[test]
fn mldsa_44_verification_matches_wycheproof() {
    let file = MLDSA_44_VERIFY_FILE.name;
    let groups: Vec<MlDsaGroup> = load(MLDSA_44_VERIFY_FILE.text(), file, MLDSA_44_VERIFY_CASES);
    let mut tally = Tally::new(file);
    for group in &groups {
        for case in &group.tests {
            let expect = case.header.result.verdict(Verdict::Refused);
            let public_key = group.public_key.as_deref().unwrap_or_default();
            tally.check(&case.header, mldsa_verify(public_key, case), expect);
        }
    }
    tally.finish(MLDSA_44_VERIFY_CASES);
}

#[test]
fn vector_files_are_the_pinned_ones_and_the_readme_names_them() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let present: BTreeSet<String> = fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
        .map(|entry| {
            entry
                .expect("a readable directory entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 file name")
        })
        .collect();
    let expected: BTreeSet<String> = VECTOR_FILES
        .iter()
        .map(|file| file.name)
        .chain([".gitattributes", "README.md"])
        .map(str::to_owned)
        .collect();
    assert_eq!(
        present, expected,
        "tests/vectors/ holds exactly the files this test pins, its README and .gitattributes"
    );
    let readme = include_str!("vectors/README.md");
    for file in VECTOR_FILES {
        file.text();
        assert!(
            readme.contains(&format!("`{}`", file.name)) && readme.contains(file.sha256),
            "tests/vectors/README.md does not name {} with its SHA-256",
            file.name
        );
    }
}
