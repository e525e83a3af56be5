//! Operator accounts of the web console: the rules an account obeys (its name, its password,
//! its interface language) and its password hash, Argon2id in a PHC string. The accounts and
//! the audit log are kept in `console.sqlite` (`parley_store::ConsoleDb`); this module decides
//! what goes in, the store only keeps it.
//!
//! The hash costs are at least OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane). The
//! parameters travel in each PHC string, so raising them later leaves old hashes verifiable;
//! a PHC string asking for more than the `*_MAX` bounds here is refused unverified, so a
//! damaged or planted row cannot make a login allocate gigabytes.

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use parley_store::OperatorRow;
use thiserror::Error;

use crate::error::ErrorClass;
use crate::limits::{PASSWORD_SIZE_MAX_BYTES, PASSWORD_SIZE_MIN_BYTES};

/// Argon2id memory cost of a new hash, in KiB (OWASP's minimum: 19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes over the memory of a new hash (OWASP's minimum with 19 MiB: 2).
pub const ARGON2_PASSES: u32 = 2;
/// Argon2id lanes (degree of parallelism) of a new hash.
pub const ARGON2_LANES: u32 = 1;
/// Most memory a stored hash may ask of a verification, in KiB (256 MiB).
pub const ARGON2_MEMORY_KIB_MAX: u32 = 256 * 1024;
/// Most passes a stored hash may ask of a verification.
pub const ARGON2_PASSES_MAX: u32 = 16;
/// Most lanes a stored hash may ask of a verification.
pub const ARGON2_LANES_MAX: u32 = 8;

/// The console's interface languages: an operator account has one of these.
pub const OPERATOR_LANGS: &[&str] = &["en", "ru"];

/// Why an account, a password or a hash was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountError {
    /// The operator name breaks the name rule.
    #[error(
        "the operator name {name:?} {why}: it must be 1 to 64 bytes, not blank, without control, \
         text-direction or (in a new name) invisible characters; nothing was changed"
    )]
    Name {
        /// The name given.
        name: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// The password is shorter than [`PASSWORD_SIZE_MIN_BYTES`].
    #[error(
        "the password is {bytes} bytes, shorter than {PASSWORD_SIZE_MIN_BYTES}; nothing was \
         changed. Choose a longer one (a few unrelated words make a good one)"
    )]
    PasswordTooShort {
        /// Its length, in bytes.
        bytes: usize,
    },
    /// The password is longer than [`PASSWORD_SIZE_MAX_BYTES`].
    #[error(
        "the password is {bytes} bytes, longer than {PASSWORD_SIZE_MAX_BYTES}; nothing was changed"
    )]
    PasswordTooLong {
        /// Its length, in bytes.
        bytes: usize,
    },
    /// The password is nothing but white space.
    #[error("the password is only white space; nothing was changed. Choose another")]
    PasswordBlank,
    /// The password holds a control character (a line break, a tab): no login form can type
    /// it, so the account could never log in.
    #[error(
        "the password holds a control character (such as a line break or a tab) at byte \
         {at}, which no login form can type; nothing was changed. A password file holds the \
         password on one line"
    )]
    PasswordControl {
        /// Where the first is, in bytes from the start.
        at: usize,
    },
    /// The language is not one of [`OPERATOR_LANGS`].
    #[error("the console has no interface in {0:?}; nothing was changed. Choose one of: en, ru")]
    Lang(String),
    /// Hashing failed (the system's randomness, or memory).
    #[error("the password could not be hashed ({0}); nothing was changed")]
    Hash(String),
}

impl AccountError {
    /// Who or what the error is down to.
    pub fn class(&self) -> ErrorClass {
        match self {
            AccountError::Hash(_) => ErrorClass::Local,
            _ => ErrorClass::Operator,
        }
    }
}

/// Checks an operator name against the name rule every name in parley obeys.
pub fn check_operator_name(name: &str) -> Result<(), AccountError> {
    parley_proto::names::check_name(name).map_err(|why| AccountError::Name {
        name: name.to_owned(),
        why,
    })
}

/// Checks a new password: [`PASSWORD_SIZE_MIN_BYTES`] to [`PASSWORD_SIZE_MAX_BYTES`] bytes,
/// not only white space. (Only new passwords are checked; a login attempt is just verified.)
pub fn check_password(password: &str) -> Result<(), AccountError> {
    let bytes = password.len();
    if bytes < PASSWORD_SIZE_MIN_BYTES {
        return Err(AccountError::PasswordTooShort { bytes });
    }
    if bytes > PASSWORD_SIZE_MAX_BYTES {
        return Err(AccountError::PasswordTooLong { bytes });
    }
    if password.trim().is_empty() {
        return Err(AccountError::PasswordBlank);
    }
    if let Some((at, _)) = password.char_indices().find(|(_, c)| c.is_control()) {
        return Err(AccountError::PasswordControl { at });
    }
    Ok(())
}

/// Checks an interface language: one of [`OPERATOR_LANGS`].
pub fn check_lang(lang: &str) -> Result<(), AccountError> {
    if OPERATOR_LANGS.contains(&lang) {
        Ok(())
    } else {
        Err(AccountError::Lang(lang.to_owned()))
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("the named Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password (checked with [`check_password`] first) with Argon2id, the named
/// parameters and a fresh random salt; returns the PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    check_password(password)?;
    hasher()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| AccountError::Hash(error.to_string()))
}

/// Whether `password` is the one `phc` was made from. The comparison is the crate's, in
/// constant time. A PHC string that does not parse, is not Argon2id, or asks for more than
/// the `ARGON2_*_MAX` bounds is never verified: `false`.
pub fn verify_password(phc: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    if hash.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    if params.m_cost() > ARGON2_MEMORY_KIB_MAX
        || params.t_cost() > ARGON2_PASSES_MAX
        || params.p_cost() > ARGON2_LANES_MAX
    {
        return false;
    }
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    let mut computed = vec![0u8; expected.len()];
    let hashed = WORKING_MEMORY.with_borrow_mut(|kept| {
        // The named parameters' memory is kept by the thread; a larger one (a hash made with
        // other parameters) is allocated for this check alone.
        let mut larger = Vec::new();
        let memory = if blocks <= KEPT_BLOCKS {
            if kept.len() < blocks {
                kept.resize(KEPT_BLOCKS, Block::new());
            }
            &mut kept[..blocks]
        } else {
            if larger.try_reserve_exact(blocks).is_err() {
                return Err(argon2::Error::MemoryTooMuch);
            }
            larger.resize(blocks, Block::new());
            &mut larger[..]
        };
        argon2.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut computed,
            memory,
        )
    });
    // `Output`'s comparison takes the same time wherever the two differ.
    hashed.is_ok() && Output::new(&computed).is_ok_and(|computed| computed == *expected)
}

/// Blocks of Argon2 memory the named parameters use ([`ARGON2_MEMORY_KIB`]).
const KEPT_BLOCKS: usize = ARGON2_MEMORY_KIB as usize * 1024 / Block::SIZE;

thread_local! {
    /// Argon2's working memory, kept by each thread that checks passwords and reused: a
    /// check allocating its 19 MiB afresh left the freed blocks in the C allocator's pools,
    /// and a flood of logins grew the daemon by hundreds of MiB.
    static WORKING_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A new account, every rule checked and its password hashed: ready for
/// `ConsoleDb::add_operator`.
pub fn new_operator(
    name: &str,
    password: &str,
    lang: &str,
    created_ms: u64,
) -> Result<OperatorRow, AccountError> {
    // A new name: no invisible character either, so no account can pass for another.
    parley_proto::names::check_new_name(name).map_err(|why| AccountError::Name {
        name: name.to_owned(),
        why,
    })?;
    check_lang(lang)?;
    Ok(OperatorRow {
        name: name.to_owned(),
        password_phc: hash_password(password)?,
        lang: lang.to_owned(),
        created_ms,
    })
}

/// Whether `password` is `account`'s password: `false` for no account, after verifying it
/// against a fixed hash all the same, so the time taken does not tell which names exist. The
/// account is read first and checked apart, so no lock is held through Argon2.
pub fn verify_account(account: Option<&OperatorRow>, password: &str) -> bool {
    match account {
        Some(account) => verify_password(&account.password_phc, password),
        None => {
            let _ = verify_password(&unknown_name_phc(), password);
            false
        }
    }
}

/// A hash with the current parameters for no account, made once, for [`verify_account`].
fn unknown_name_phc() -> String {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| {
        hasher()
            .hash_password_with_salt(b"no account has this password", b"parley-no-account")
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_store::ConsoleDb;

    /// The Argon2 reference implementation's Argon2id v1.3 vector (t=2, m=2^16 KiB, p=1,
    /// password "password", salt "somesalt"), as the PHC string it publishes, run through
    /// parley's own verification.
    const REFERENCE_PHC: &str =
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let password = "correct horse battery staple";
        let phc = hash_password(password).expect("hashes");
        assert!(
            phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "the named parameters, in the PHC string: {phc}"
        );
        assert!(verify_password(&phc, password));
        for wrong in [
            "correct horse battery stapl",
            "correct horse battery staple ",
            "Correct horse battery staple",
            "",
        ] {
            assert!(!verify_password(&phc, wrong), "{wrong:?}");
        }
        // A fresh salt each time: the same password never gives the same string.
        let again = hash_password(password).expect("hashes");
        assert_ne!(phc, again);
        assert!(verify_password(&again, password));
    }

    #[test]
    fn the_reference_vector_verifies() {
        assert!(verify_password(REFERENCE_PHC, "password"));
        assert!(!verify_password(REFERENCE_PHC, "passwore"));
    }

    #[test]
    fn hashes_that_are_not_ours_to_trust_are_not_verified() {
        let cases = [
            ("empty", String::new()),
            ("not PHC", "password".to_owned()),
            ("argon2i", REFERENCE_PHC.replace("argon2id", "argon2i")),
            (
                "memory over the bound",
                REFERENCE_PHC.replace("m=65536", &format!("m={}", ARGON2_MEMORY_KIB_MAX + 1)),
            ),
            (
                "passes over the bound",
                REFERENCE_PHC.replace("t=2", &format!("t={}", ARGON2_PASSES_MAX + 1)),
            ),
            (
                "lanes over the bound",
                REFERENCE_PHC.replace("p=1", &format!("p={}", ARGON2_LANES_MAX + 1)),
            ),
            (
                "hash cut short",
                REFERENCE_PHC[..REFERENCE_PHC.len() - 10].to_owned(),
            ),
        ];
        for (name, phc) in cases {
            assert!(!verify_password(&phc, "password"), "{name}");
        }
    }

    /// What [`check_password`] says of a password: "ok" or the start of its error.
    fn check(password: &str, expect: &str) {
        let outcome = match check_password(password) {
            Ok(()) => "ok".to_owned(),
            Err(error) => error.to_string(),
        };
        assert!(
            outcome.starts_with(expect),
            "{:?} ({} bytes): {outcome}",
            password.chars().take(20).collect::<String>(),
            password.len()
        );
    }

    #[test]
    fn password_rules_hold_on_both_sides() {
        check(
            &"x".repeat(PASSWORD_SIZE_MIN_BYTES - 1),
            "the password is 11 bytes, shorter",
        );
        check(&"x".repeat(PASSWORD_SIZE_MIN_BYTES), "ok");
        check(&"x".repeat(PASSWORD_SIZE_MAX_BYTES), "ok");
        check(
            &"x".repeat(PASSWORD_SIZE_MAX_BYTES + 1),
            "the password is 1025 bytes, longer",
        );
        // Bytes, not characters: six two-byte letters are twelve bytes.
        check(&"é".repeat(6), "ok");
        check(&"é".repeat(5), "the password is 10 bytes, shorter");
        check(
            &" ".repeat(PASSWORD_SIZE_MIN_BYTES),
            "the password is only white space",
        );
        check(
            " \t\n\u{3000} \t\n\u{3000}",
            "the password is only white space",
        );
        check("  inner space  ", "ok");
        // A second line of a password file, a tab, any control: no login form types them.
        check(
            "first line long enough\nsecond",
            "the password holds a control character (such as a line break or a tab) at byte 22",
        );
        check(
            "tab\tseparated words",
            "the password holds a control character",
        );
        check(
            "with a bell\u{7} in it",
            "the password holds a control character",
        );
        check(
            "with a C1\u{85} in it",
            "the password holds a control character",
        );
        // A refused password is never hashed.
        assert_eq!(
            hash_password("short"),
            Err(AccountError::PasswordTooShort { bytes: 5 })
        );
    }

    #[test]
    fn names_and_languages_follow_their_rules() {
        assert_eq!(check_operator_name("Olga Petrova"), Ok(()));
        assert_eq!(check_operator_name(&"n".repeat(64)), Ok(()));
        for bad in ["", "  ", "a\u{1b}[2J", "evil\u{202e}", &"n".repeat(65)] {
            let error = check_operator_name(bad).expect_err(bad);
            assert_eq!(error.class(), ErrorClass::Operator);
        }
        let hidden = new_operator("Ana\u{200b}", "a long enough password", "en", 0);
        assert!(
            matches!(&hidden, Err(AccountError::Name { why, .. }) if why.contains("invisible")),
            "{hidden:?}"
        );
        for lang in OPERATOR_LANGS {
            assert_eq!(check_lang(lang), Ok(()));
        }
        for bad in ["", "fr", "EN", "en-GB", "ru "] {
            assert_eq!(check_lang(bad), Err(AccountError::Lang(bad.to_owned())));
        }
        let error = new_operator("alice", "long enough password", "de", 1).expect_err("de");
        assert_eq!(error, AccountError::Lang("de".into()));
    }

    #[test]
    fn authentication_takes_the_right_password_of_an_existing_account_only() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut db = ConsoleDb::open(&dir.path().join("console.sqlite")).expect("opens");
        let alice = new_operator("alice", "long enough password", "ru", 7).expect("valid");
        let audit = parley_store::AuditRecord {
            at_ms: 7,
            operator: "root".into(),
            source: parley_store::AuditSource::Cli,
            action: parley_store::AuditAction::OperatorAdd,
            detail: serde_json::json!({"name": "alice"}),
            outcome: parley_store::AUDIT_OUTCOME_OK.into(),
        };
        db.add_operator(&alice, &audit).expect("adds");
        let found = db.operator("alice").expect("reads");
        assert_eq!(found.as_ref(), Some(&alice));
        assert!(verify_account(found.as_ref(), "long enough password"));
        assert!(!verify_account(found.as_ref(), "wrong password!!"));
        let unknown = db.operator("bob").expect("reads");
        assert!(!verify_account(unknown.as_ref(), "long enough password"));
    }
}
