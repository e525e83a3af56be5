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
//! [`head`] holds a link log's checkpoints and cosignatures as entries carry them.

pub mod head;
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

/// A Merkle tree that grows one leaf at a time and gives the root of any prefix of itself in
/// O(log n) hashes: it keeps the hash of every complete subtree (level k holds the hashes of
/// leaves `[i·2^k, (i+1)·2^k)`), about two hashes per leaf, as Go's `sumdb/tlog` stores them.
/// The root of `size` leaves is then the complete subtrees of `size`'s binary digits, largest
/// first, hashed from the right: RFC 6962 splits at the largest power of two below the size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// A tree of `leaves` (each a [`leaf_hash`]).
    pub fn of(leaves: &[Hash]) -> Self {
        let mut tree = Tree::default();
        for leaf in leaves {
            tree.push(*leaf);
        }
        tree
    }

    /// How many leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Whether it has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leaf `index` (0-based), if the tree has it.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let leaves = self.levels.first()?;
        leaves.get(usize::try_from(index).ok()?).copied()
    }

    /// Appends a leaf hash, completing every subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let nodes = &self.levels[level];
            if nodes.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            level += 1;
        }
    }

    /// The root of the first `size` leaves (the hash of nothing for 0); `None` above the size.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.len() {
            return None;
        }
        if size == 0 {
            return Some(root(&[]));
        }
        // Complete subtrees left to right: one per set bit of `size`, largest first.
        let mut subtrees = Vec::new();
        let mut start = 0u64;
        for level in (0..u64::BITS - size.leading_zeros()).rev() {
            if size & (1 << level) != 0 {
                subtrees.push(self.levels[level as usize][(start >> level) as usize]);
                start += 1 << level;
            }
        }
        let mut hash = subtrees.pop().expect("size has a set bit");
        while let Some(left) = subtrees.pop() {
            hash = node_hash(&left, &hash);
        }
        Some(hash)
    }

    /// The root of all its leaves.
    pub fn root(&self) -> Hash {
        self.root_at(self.len()).expect("its own size")
    }

    /// The proof that its first `old_size` leaves are a prefix of its first `size` (RFC 6962
    /// §2.1.2), as [`consistency_proof`] gives it but in O(log² n) hashes, from the complete
    /// subtrees it keeps. `None` when `old_size` is 0 or not below `size`, or `size` is beyond
    /// the tree.
    pub fn consistency_proof(&self, old_size: u64, size: u64) -> Option<Vec<Hash>> {
        if old_size == 0 || old_size >= size || size > self.len() {
            return None;
        }
        let mut proof = Vec::new();
        self.subproof(old_size, (0, size), true, &mut proof);
        Some(proof)
    }

    fn subproof(&self, m: u64, (start, end): (u64, u64), complete: bool, proof: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !complete {
                proof.push(self.range_root(start, end));
            }
            return;
        }
        let k = split(n as usize) as u64;
        if m <= k {
            self.subproof(m, (start, start + k), complete, proof);
            proof.push(self.range_root(start + k, end));
        } else {
            self.subproof(m - k, (start + k, end), false, proof);
            proof.push(self.range_root(start, start + k));
        }
    }

    /// The Merkle tree hash of leaves `[start, end)`, where `start` is a multiple of the
    /// largest power of two below `end - start` (as every range RFC 6962's recursion reaches
    /// is): a complete subtree is read, the rest split as RFC 6962 splits.
    fn range_root(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            return self.levels[level][(start >> level) as usize];
        }
        let k = split(n as usize) as u64;
        node_hash(
            &self.range_root(start, start + k),
            &self.range_root(start + k, end),
        )
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
