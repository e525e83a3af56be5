use hpke::Serializable as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

use super::*;

/// Key pairs from `seed`.
fn secrets(seed: u64, count: usize) -> Vec<EpochSecret> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| EpochSecret::generate(&mut rng))
        .collect()
}

fn slot(bytes: &[u8]) -> usize {
    usize::from(EpochKeyId::of(bytes).0[0]) % PEER_EPOCH_KEYS_REMEMBERED_MAX
}

/// Whether `memo` holds the key these bytes make (each test has a memo of its own: tests run
/// at once, and the process's is shared).
fn remembers(memo: &KeyMemo, bytes: &[u8]) -> bool {
    memo.remembered(bytes, &EpochKeyId::of(bytes)).1.is_some()
}

#[test]
fn a_validated_key_is_remembered_and_is_the_key_of_its_bytes() {
    let memo = KeyMemo::new();
    let secret = &secrets(0x5ea1, 1)[0];
    let bytes = secret.public_bytes();
    assert!(!remembers(&memo, bytes));
    let first = memo.validated(bytes).expect("a valid key");
    assert!(remembers(&memo, bytes));
    let again = memo.validated(bytes).expect("a valid key");
    assert_eq!(again.id(), secret.id());
    assert_eq!(again.public.to_bytes().as_slice(), bytes);
    assert_eq!(first.public.to_bytes(), again.public.to_bytes());
    let through = PeerEpochKey::from_bytes(bytes).expect("a valid key");
    assert_eq!(through.public.to_bytes().as_slice(), bytes);
}

#[test]
fn an_invalid_key_is_refused_every_time_and_never_remembered() {
    let memo = KeyMemo::new();
    let mut bytes = secrets(0x5ea2, 1)[0].public_bytes().to_vec();
    // The first ML-KEM coefficient becomes 4,095, not below q = 3,329 (FIPS 203 §7.2).
    bytes[0] = 0xff;
    bytes[1] |= 0x0f;
    for _ in 0..2 {
        assert!(memo.validated(&bytes).is_err());
        assert!(!remembers(&memo, &bytes));
        assert!(PeerEpochKey::from_bytes(&bytes).is_err());
    }
}

#[test]
fn a_key_in_the_same_slot_replaces_the_one_remembered_and_neither_is_taken_for_the_other() {
    let memo = KeyMemo::new();
    let keys = secrets(0x5ea3, 64);
    let first = keys[0].public_bytes();
    let other = keys[1..]
        .iter()
        .map(EpochSecret::public_bytes)
        .find(|bytes| slot(bytes) == slot(first))
        .expect("64 keys over 16 slots share one");
    memo.validated(first).expect("a valid key");
    let taken = memo.validated(other).expect("a valid key");
    assert_eq!(
        taken.public.to_bytes().as_slice(),
        other,
        "the other's own key"
    );
    assert!(remembers(&memo, other));
    assert!(!remembers(&memo, first));
    let back = memo.validated(first).expect("a valid key");
    assert_eq!(back.public.to_bytes().as_slice(), first);
}
