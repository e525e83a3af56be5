// Checks parley's checkpoints, cosignatures and Merkle proofs with Go's reference packages,
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog. Reads the cases as JSON on
// standard input (written by crates/proto/tests/tlog_reference.rs); prints one line per
// disagreement and exits 1 if there is any, else prints "agreed" and the counts.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type cases struct {
	LogVerifierKey string   `json:"log_verifier_key"`
	CosignerName   string   `json:"cosigner_name"`
	CosignerPublic string   `json:"cosigner_public"`
	Notes          []string `json:"notes"`
	BadNotes       []string `json:"bad_notes"`
	Leaves         []string `json:"leaves"`
	Roots          []string `json:"roots"`
	Inclusion      []proof  `json:"inclusion"`
	Consistency    []proof  `json:"consistency"`
}

type proof struct {
	Index int64    `json:"index"`
	Old   int64    `json:"old"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
	Valid bool     `json:"valid"`
}

// cosigner verifies c2sp.org/tlog-cosignature version 1 signature lines, which sumdb/note
// leaves to its callers: key id with type 0x04, then an 8-byte time and an Ed25519 signature
// over "cosignature/v1\ntime <t>\n" and the note's text.
type cosigner struct {
	name string
	key  ed25519.PublicKey
}

func (c cosigner) Name() string { return c.name }

func (c cosigner) KeyHash() uint32 {
	h := sha256.New()
	h.Write([]byte(c.name + "\n"))
	h.Write([]byte{0x04})
	h.Write(c.key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func (c cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	signed := []byte("cosignature/v1\ntime " + strconv.FormatUint(t, 10) + "\n")
	return ed25519.Verify(c.key, append(signed, msg...), sig[8:])
}

var failures int

func fail(format string, args ...any) {
	failures++
	fmt.Printf(format+"\n", args...)
}

func decodeHash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("not a base64 hash: %q", s)
		return tlog.Hash{}
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func decodeHashes(list []string) []tlog.Hash {
	var hashes []tlog.Hash
	for _, s := range list {
		hashes = append(hashes, decodeHash(s))
	}
	return hashes
}

func main() {
	var c cases
	if err := json.NewDecoder(os.Stdin).Decode(&c); err != nil {
		fmt.Println("cannot read the cases:", err)
		os.Exit(2)
	}

	// The tree, stored as sumdb/tlog stores it, and its root at every size.
	stored := make(map[int64]tlog.Hash)
	for i, leaf := range c.Leaves {
		data, err := base64.StdEncoding.DecodeString(leaf)
		if err != nil {
			fail("leaf %d is not base64", i)
			continue
		}
		hashes, err := tlog.StoredHashes(int64(i), data, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = stored[x]
			}
			return out, nil
		}))
		if err != nil {
			fail("storing leaf %d: %v", i, err)
		}
		base := tlog.StoredHashCount(int64(i))
		for j, h := range hashes {
			stored[base+int64(j)] = h
		}
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			out[j] = stored[x]
		}
		return out, nil
	})
	rootAt := func(size int64) tlog.Hash {
		h, err := tlog.TreeHash(size, reader)
		if err != nil {
			fail("root at %d: %v", size, err)
		}
		return h
	}
	for i, root := range c.Roots {
		size := int64(i + 1)
		if got := rootAt(size); got != decodeHash(root) {
			fail("root at size %d: parley %s, Go %s", size, root, got)
		}
	}

	for _, p := range c.Inclusion {
		leaf, _ := base64.StdEncoding.DecodeString(c.Leaves[p.Index])
		err := tlog.CheckRecord(decodeHashes(p.Proof), p.Size, rootAt(p.Size), p.Index, tlog.RecordHash(leaf))
		if (err == nil) != p.Valid {
			fail("inclusion of %d in %d: parley says valid=%v, Go says %v", p.Index, p.Size, p.Valid, err)
		}
	}
	for _, p := range c.Consistency {
		err := tlog.CheckTree(decodeHashes(p.Proof), p.Size, rootAt(p.Size), p.Old, rootAt(p.Old))
		if (err == nil) != p.Valid {
			fail("consistency of %d with %d: parley says valid=%v, Go says %v", p.Old, p.Size, p.Valid, err)
		}
	}

	logVerifier, err := note.NewVerifier(c.LogVerifierKey)
	if err != nil {
		fail("the log's verifier key does not parse: %v", err)
		os.Exit(1)
	}
	key, err := base64.StdEncoding.DecodeString(c.CosignerPublic)
	if err != nil || len(key) != ed25519.PublicKeySize {
		fail("the cosigner's key is not a base64 Ed25519 key")
		os.Exit(1)
	}
	witness := cosigner{name: c.CosignerName, key: key}
	verifiers := note.VerifierList(logVerifier, witness)
	for i, text := range c.Notes {
		n, err := note.Open([]byte(text), verifiers)
		if err != nil {
			fail("note %d: %v", i, err)
			continue
		}
		if len(n.Sigs) != 2 {
			fail("note %d: %d signatures verified, want the log's and the cosigner's", i, len(n.Sigs))
		}
		// The checkpoint's text: origin, size and root, whose root must be the tree's.
		lines := strings.SplitN(n.Text, "\n", 4)
		if len(lines) < 4 {
			fail("note %d: not a checkpoint", i)
			continue
		}
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil || size < 1 || size > int64(len(c.Leaves)) {
			fail("note %d: size %q", i, lines[1])
			continue
		}
		if got := rootAt(size); got != decodeHash(lines[2]) {
			fail("note %d: root %s is not the tree's at size %d (%s)", i, lines[2], size, got)
		}
	}
	for i, text := range c.BadNotes {
		n, err := note.Open([]byte(text), verifiers)
		if err == nil && len(n.Sigs) == 2 {
			fail("bad note %d verified", i)
		}
	}

	if failures > 0 {
		os.Exit(1)
	}
	fmt.Printf("agreed: %d roots, %d inclusion proofs, %d consistency proofs, %d notes, %d bad notes\n",
		len(c.Roots), len(c.Inclusion), len(c.Consistency), len(c.Notes), len(c.BadNotes))
}
