//! The shared record's proofs: RFC 6962 Merkle trees (hashing, inclusion and consistency
//! proofs, verified as RFC 9162 §2.1.3.2 and §2.1.4.2 say) and C2SP checkpoints
//! (`c2sp.org/tlog-checkpoint`) carried as C2SP signed notes (`c2sp.org/signed-note`) with
//! Ed25519 signatures ([`note`]).
//!
//! Written here rather than taken from a package: the packages that implement these (Go's
//! `sumdb/tlog` and `sumdb/note`, ported to Rust as `tlog_tiles` and `signed_note`) build on
//! `sha2` 0.10 and `ed25519-dalek` 2, a second generation of both beside the workspace's
//! `sha2` 0.11 and `ed25519-dalek` 3. The algorithms are short and fully specified, and the
//! tests hold them to published answers.
//!
//! This is the foundation of checkpoints: nothing in a station issues or checks them yet.

pub mod note;
#[cfg(test)]
mod tests;

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash in a tree: a leaf's, a node's or a root.
pub type Hash = [u8; 32];

/// Domain prefix of a leaf's hash (RFC 6962 §2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain prefix of an interior node's hash.
const NODE_PREFIX: u8 = 0x01;

/// The hash of a leaf holding `data`: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(data)
        .finalize()
        .into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([NODE_PREFIX])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two smaller than `n` (`n` ≥ 2): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash of `leaves` (each a [`leaf_hash`]): MTH of RFC 6962 §2.1; the hash of
/// the empty string for no leaves.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1, PATH), from the
/// leaf up. `None` when `index` is not a leaf of it.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &leaves[..k], proof);
        proof.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], proof);
        proof.push(root(&leaves[..k]));
    }
}

/// The proof that the tree of the first `old_size` of `leaves` is a prefix of the tree of all
/// of them (RFC 6962 §2.1.2, PROOF). `None` when `old_size` is 0 or more than the leaves
/// (there is nothing to prove, or nothing true).
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    subproof(old_size, leaves, true, &mut proof);
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Whether `proof` shows the leaf hash `leaf` at `index` in the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` shows the tree of `old_size` leaves with root `old_root` to be a prefix of
/// the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). Equal sizes need an
/// empty proof and equal roots; the empty tree (whose root is SHA-256 of nothing) is a prefix
/// of any tree, with an empty proof.
pub fn verify_consistency(
    (old_size, old_root): (u64, &Hash),
    (new_size, new_root): (u64, &Hash),
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == root(&[]);
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // A complete old tree is itself a node of the new one: its root starts the walk.
    let (start, rest) = match old_size.is_power_of_two() {
        true => (old_root, proof),
        false => (first, rest),
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}
