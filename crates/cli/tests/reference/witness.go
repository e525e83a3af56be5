// A stock c2sp.org/tlog-witness witness, written apart from parley from the specifications
// (c2sp.org/tlog-witness, tlog-checkpoint, tlog-cosignature, signed-note) with Go's
// golang.org/x/mod/sumdb/note (the log's signature) and sumdb/tlog (consistency proofs). It
// holds, in memory, the latest checkpoint it cosigned of each log it is configured with, and
// serves POST <prefix>/add-checkpoint. crates/cli/tests/stock_witness.rs runs it.
//
// Usage: witness LISTEN NAME SEED_HEX LOG_VKEY...
// Prints "vkey <its verifier key>" and "listening <address>" on standard output, then one line
// per request on standard error. With WITNESS_TLS_CERT and WITNESS_TLS_KEY (PEM files) in the
// environment it serves HTTPS with that certificate, else plain HTTP.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type held struct {
	size int64
	root tlog.Hash
}

type witness struct {
	name string
	key  ed25519.PrivateKey
	logs map[string]note.Verifier // by origin
	mu   sync.Mutex
	held map[string]held // by origin
}

func (w *witness) keyID() []byte {
	h := sha256.New()
	h.Write([]byte(w.name + "\n"))
	h.Write([]byte{0x04})
	h.Write(w.key.Public().(ed25519.PublicKey))
	return h.Sum(nil)[:4]
}

func (w *witness) vkey() string {
	typed := append([]byte{0x04}, w.key.Public().(ed25519.PublicKey)...)
	return fmt.Sprintf("%s+%s+%s", w.name, hex.EncodeToString(w.keyID()), base64.StdEncoding.EncodeToString(typed))
}

// cosign returns the cosignature/v1 signature line of the checkpoint's text at time now.
func (w *witness) cosign(text string) string {
	now := uint64(time.Now().Unix())
	msg := []byte("cosignature/v1\ntime " + strconv.FormatUint(now, 10) + "\n" + text)
	sig := ed25519.Sign(w.key, msg)
	signed := append(append(w.keyID(), make([]byte, 8)...), sig...)
	binary.BigEndian.PutUint64(signed[4:12], now)
	return "\u2014 " + w.name + " " + base64.StdEncoding.EncodeToString(signed) + "\n"
}

func fail(rw http.ResponseWriter, status int, why string) {
	log.Printf("%d %s", status, why)
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(status)
	io.WriteString(rw, why+"\n")
}

func (w *witness) addCheckpoint(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(rw, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64*1024))
	if err != nil {
		fail(rw, http.StatusBadRequest, "unreadable body")
		return
	}
	// old <size>, proof lines, an empty line, the checkpoint.
	first, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok || !bytes.HasPrefix(first, []byte("old ")) {
		fail(rw, http.StatusBadRequest, "no old size line")
		return
	}
	oldSize, err := strconv.ParseInt(string(first[4:]), 10, 64)
	if err != nil || oldSize < 0 {
		fail(rw, http.StatusBadRequest, "bad old size")
		return
	}
	var proof tlog.TreeProof
	for {
		var line []byte
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			fail(rw, http.StatusBadRequest, "no empty line after the proof")
			return
		}
		if len(line) == 0 {
			break
		}
		h, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(h) != tlog.HashSize {
			fail(rw, http.StatusBadRequest, "bad proof line")
			return
		}
		var hash tlog.Hash
		copy(hash[:], h)
		proof = append(proof, hash)
	}
	origin, _, _ := strings.Cut(string(rest), "\n")
	verifier, known := w.logs[origin]
	if !known {
		fail(rw, http.StatusNotFound, "unknown log")
		return
	}
	n, err := note.Open(rest, note.VerifierList(verifier))
	if err != nil {
		fail(rw, http.StatusForbidden, "the checkpoint is not signed by the log's key: "+err.Error())
		return
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		fail(rw, http.StatusBadRequest, "not a checkpoint")
		return
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	rootBytes, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || err2 != nil || len(rootBytes) != tlog.HashSize || size < 0 {
		fail(rw, http.StatusBadRequest, "not a checkpoint")
		return
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	if oldSize > size {
		fail(rw, http.StatusBadRequest, "old size beyond the checkpoint")
		return
	}
	if oldSize == 0 && len(proof) != 0 {
		fail(rw, http.StatusBadRequest, "a proof from the empty tree")
		return
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	latest := w.held[origin]
	if oldSize != latest.size {
		log.Printf("409 old %d, holds %d", oldSize, latest.size)
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", latest.size)
		return
	}
	switch {
	case oldSize == size:
		if len(proof) != 0 || root != latest.root {
			fail(rw, http.StatusConflict, "same size, another root")
			return
		}
	case oldSize > 0:
		if err := tlog.CheckTree(proof, size, root, oldSize, latest.root); err != nil {
			fail(rw, http.StatusUnprocessableEntity, "the consistency proof does not verify")
			return
		}
	}
	w.held[origin] = held{size, root}
	log.Printf("200 cosigned %s at %d (old %d)", origin, size, oldSize)
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(rw, w.cosign(n.Text))
}

func main() {
	log.SetFlags(0)
	if len(os.Args) < 5 {
		log.Fatal("usage: witness LISTEN NAME SEED_HEX LOG_VKEY...")
	}
	seed, err := hex.DecodeString(os.Args[3])
	if err != nil || len(seed) != ed25519.SeedSize {
		log.Fatal("the seed is not 32 bytes of hex")
	}
	w := &witness{
		name: os.Args[2],
		key:  ed25519.NewKeyFromSeed(seed),
		logs: map[string]note.Verifier{},
		held: map[string]held{},
	}
	for _, vkey := range os.Args[4:] {
		verifier, err := note.NewVerifier(vkey)
		if err != nil {
			log.Fatalf("log key %q: %v", vkey, err)
		}
		w.logs[verifier.Name()] = verifier
	}
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("vkey %s\nlistening %s\n", w.vkey(), listener.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/add-checkpoint", w.addCheckpoint)
	cert, key := os.Getenv("WITNESS_TLS_CERT"), os.Getenv("WITNESS_TLS_KEY")
	if cert != "" && key != "" {
		log.Fatal(http.ServeTLS(listener, mux, cert, key))
	}
	log.Fatal(http.Serve(listener, mux))
}
