// Checks parley's checkpoints, cosignatures and Merkle proofs with Go's reference packages,
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog. Reads the cases as JSON on
// standard input (written by crates/proto/tests/tlog_reference.rs); prints one line per
// disagreement and exits 1 if there is any, else prints one "subtree" line per ML-DSA-44
// signature read from a station's own checkpoint and one "cosigned" line per ML-DSA-44
// cosignature of the other station's (see subtreeCosigner), then "agreed" and the counts.
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
	// A station's checkpoints as parley writes them: its Ed25519 signature, its ML-DSA-44
	// signature (a subtree/v1 cosignature under its cosigner name) and the cosigner's.
	StationVerifierKey string   `json:"station_verifier_key"`
	SubtreeName        string   `json:"subtree_name"`
	SubtreePublic      string   `json:"subtree_public"`
	StationNotes       []string `json:"station_notes"`
	// The other station's checkpoints as the station cosigns them: the author's Ed25519
	// signature, then the station's cosignature/v1 (Ed25519, under its cosigner name) and
	// its ML-DSA-44 subtree/v1 cosignature at the same time.
	StationPublic       string   `json:"station_public"`
	CosignedVerifierKey string   `json:"cosigned_verifier_key"`
	CosignedNotes       []string `json:"cosigned_notes"`
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

// mlDsa44PublicKeySize and mlDsa44SignatureSize are FIPS 204's sizes for ML-DSA-44.
const (
	mlDsa44PublicKeySize = 1312
	mlDsa44SignatureSize = 2420
)

// subtreeCosigner reads c2sp.org/tlog-cosignature ML-DSA-44 signature lines: key id with type
// 0x06, then an 8-byte time and an ML-DSA-44 signature over the binary subtree/v1 message.
// This Go has no ML-DSA, so it cannot check the signature itself: it builds the message the
// specification defines from the note it is given and keeps it with the signature, and the
// Rust test verifies each pair with parley's ML-DSA-44 key. So the message is built twice,
// independently, and the signature line is parsed by sumdb/note.
type subtreeCosigner struct {
	name string
	key  []byte
	read []subtreeSignature
}

type subtreeSignature struct {
	message   []byte
	signature []byte
}

func (c *subtreeCosigner) Name() string { return c.name }

func (c *subtreeCosigner) KeyHash() uint32 {
	h := sha256.New()
	h.Write([]byte(c.name + "\n"))
	h.Write([]byte{0x06})
	h.Write(c.key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func (c *subtreeCosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+mlDsa44SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	lines := strings.SplitN(string(msg), "\n", 4)
	if t > 1<<63-1 || len(lines) < 4 {
		return false
	}
	origin := lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	root, rootErr := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || rootErr != nil || len(root) != tlog.HashSize ||
		len(c.name) > 255 || len(origin) == 0 || len(origin) > 255 {
		return false
	}
	message := []byte("subtree/v1\n\x00")
	message = append(message, byte(len(c.name)))
	message = append(message, c.name...)
	message = binary.BigEndian.AppendUint64(message, t)
	message = append(message, byte(len(origin)))
	message = append(message, origin...)
	message = binary.BigEndian.AppendUint64(message, 0)
	message = binary.BigEndian.AppendUint64(message, size)
	message = append(message, root...)
	c.read = append(c.read, subtreeSignature{message: message, signature: sig[8:]})
	return true
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

	// A station's checkpoints: a verifier that knows no ML-DSA still opens them, by the
	// Ed25519 signatures, and leaves the ML-DSA-44 line unverified; one that reads the line
	// finds the station's key id and builds the message its signature is over.
	stationVerifier, err := note.NewVerifier(c.StationVerifierKey)
	if err != nil {
		fail("the station's verifier key does not parse: %v", err)
		os.Exit(1)
	}
	subtreeKey, err := base64.StdEncoding.DecodeString(c.SubtreePublic)
	if err != nil || len(subtreeKey) != mlDsa44PublicKeySize {
		fail("the station's ML-DSA-44 key is not a base64 ML-DSA-44 key")
		os.Exit(1)
	}
	for i, text := range c.StationNotes {
		n, err := note.Open([]byte(text), note.VerifierList(stationVerifier, witness))
		if err != nil {
			fail("station note %d without ML-DSA: %v", i, err)
			continue
		}
		if len(n.Sigs) != 2 || len(n.UnverifiedSigs) != 1 || n.UnverifiedSigs[0].Name != c.SubtreeName {
			fail("station note %d without ML-DSA: %d verified, %d unverified, want 2 and the ML-DSA-44 line",
				i, len(n.Sigs), len(n.UnverifiedSigs))
		}
		subtree := &subtreeCosigner{name: c.SubtreeName, key: subtreeKey}
		n, err = note.Open([]byte(text), note.VerifierList(stationVerifier, witness, subtree))
		if err != nil {
			fail("station note %d: %v", i, err)
			continue
		}
		if len(n.Sigs) != 3 || len(subtree.read) != 1 {
			fail("station note %d: %d signatures read, want the station's two and the cosigner's", i, len(n.Sigs))
			continue
		}
		lines := strings.SplitN(n.Text, "\n", 4)
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil || size < 1 || size > int64(len(c.Leaves)) {
			fail("station note %d: size %q", i, lines[1])
		} else if got := rootAt(size); got != decodeHash(lines[2]) {
			fail("station note %d: root %s is not the tree's at size %d (%s)", i, lines[2], size, got)
		}
		read := subtree.read[0]
		fmt.Printf("subtree %d %s %s\n", i, base64.StdEncoding.EncodeToString(read.message),
			base64.StdEncoding.EncodeToString(read.signature))
	}

	cosignedVerifier, err := note.NewVerifier(c.CosignedVerifierKey)
	if err != nil {
		fail("the other station's verifier key does not parse: %v", err)
		os.Exit(1)
	}
	stationKey, err := base64.StdEncoding.DecodeString(c.StationPublic)
	if err != nil || len(stationKey) != ed25519.PublicKeySize {
		fail("the station's Ed25519 key is not a base64 Ed25519 key")
		os.Exit(1)
	}
	for i, text := range c.CosignedNotes {
		station := cosigner{name: c.SubtreeName, key: stationKey}
		subtree := &subtreeCosigner{name: c.SubtreeName, key: subtreeKey}
		n, err := note.Open([]byte(text), note.VerifierList(cosignedVerifier, station, subtree))
		if err != nil {
			fail("cosigned note %d: %v", i, err)
			continue
		}
		if len(n.Sigs) != 3 || len(subtree.read) != 1 {
			fail("cosigned note %d: %d signatures read, want the author's and the station's two", i, len(n.Sigs))
			continue
		}
		read := subtree.read[0]
		fmt.Printf("cosigned %d %s %s\n", i, base64.StdEncoding.EncodeToString(read.message),
			base64.StdEncoding.EncodeToString(read.signature))
	}

	if failures > 0 {
		os.Exit(1)
	}
	fmt.Printf("agreed: %d roots, %d inclusion proofs, %d consistency proofs, %d notes, %d bad notes, %d station notes, %d cosigned notes\n",
		len(c.Roots), len(c.Inclusion), len(c.Consistency), len(c.Notes), len(c.BadNotes), len(c.StationNotes), len(c.CosignedNotes))
}
