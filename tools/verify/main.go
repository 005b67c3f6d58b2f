// Command pm-verify checks process-memory's signed checkpoints and their proofs offline, trusting only a
// verifier key. It shares no code with the service: the tree and the notes are golang.org/x/mod/sumdb's
// tlog and note, the Go checksum database's own packages.
//
//	pm-verify checkpoint  -key VKEY CHECKPOINT
//	pm-verify inclusion   -key VKEY [-entry-hash HEX] CHECKPOINT PROOF.json
//	pm-verify consistency -key VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF.json
//	pm-verify export      -key VKEY CHECKPOINT EXPORT.ndjson
//	pm-verify anchor      -key VKEY [-witness-key WKEY …] [-quorum N] CHECKPOINT ANCHOR.json
//	pm-verify canonical   < VALUES.ndjson
//
// anchor checks that CHECKPOINT's tree is anchored in the service log: ANCHOR.json is the body of
// GET .../anchor?size=<its size>, and its service checkpoint must be signed by VKEY and cosigned by at least N
// of the witness keys (C2SP tlog-cosignature; default N: every witness key given).
//
// canonical prints the canonical JSON (docs/storage.md) of each JSON value on standard input, a line each:
// what the recipe hashes, for anyone checking their own reading of it.
//
// CHECKPOINT is a signed note as GET /api/v1/instances/{id}/checkpoint returns it in "note" (or that whole
// body); PROOF.json is
// the body of GET .../proof/inclusion or .../proof/consistency; EXPORT.ndjson is GET .../export. Exit status: 0 when everything checks, 1
// when something does not (the message says what), 2 for a usage error.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	origin     string
	size       int64
	root       tlog.Hash
	extensions []string
}

type inclusionProof struct {
	Seq      int64    `json:"seq"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Proof    []string `json:"proof"`
}

type consistencyProof struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

// usageError is a mistake in how the command was called (exit 2), not a failed check (exit 1).
type usageError struct{ error }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pm-verify:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("a command: checkpoint, inclusion, consistency, export, anchor or canonical")}
	}
	if args[0] == "canonical" && len(args) == 1 {
		return printCanonical(os.Stdin, os.Stdout)
	}
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	key := flags.String("key", "", "the verifier key that signs the checkpoints")
	entryHash := flags.String("entry-hash", "", "inclusion: the entry's hash, to check the proof's leaf against")
	var witnesses witnessKeys
	flags.Var(&witnesses, "witness-key", "anchor: a witness's cosignature verifier key; repeatable")
	quorum := flags.Int("quorum", -1, "anchor: cosignatures needed (default: every witness key)")
	if err := flags.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if *key == "" {
		return usageError{errors.New("-key is required")}
	}
	verifier, err := note.NewVerifier(*key)
	if err != nil {
		return usageError{fmt.Errorf("the verifier key: %w", err)}
	}
	files := flags.Args()
	switch {
	case args[0] == "checkpoint" && len(files) == 1:
		cp, err := readCheckpoint(files[0], verifier)
		if err != nil {
			return err
		}
		fmt.Printf("ok: %s at size %d, root %x\n", cp.origin, cp.size, cp.root[:])
		return nil
	case args[0] == "inclusion" && len(files) == 2:
		return checkInclusion(files[0], files[1], *entryHash, verifier)
	case args[0] == "consistency" && len(files) == 3:
		return checkConsistency(files[0], files[1], files[2], verifier)
	case args[0] == "export" && len(files) == 2:
		return checkExport(files[0], files[1], verifier)
	case args[0] == "anchor" && len(files) == 2:
		needed := *quorum
		if needed < 0 {
			needed = len(witnesses)
		}
		if needed > len(witnesses) {
			return usageError{fmt.Errorf("a quorum of %d needs as many -witness-key", needed)}
		}
		return checkAnchor(files[0], files[1], verifier, witnesses, needed)
	}
	return usageError{fmt.Errorf("%s: wrong command or number of files", args[0])}
}

func readCheckpoint(path string, verifier note.Verifier) (checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return checkpoint{}, err
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		// The body of GET .../checkpoint, which holds the note.
		var body struct {
			Note string `json:"note"`
		}
		if err := json.Unmarshal(trimmed, &body); err != nil || body.Note == "" {
			return checkpoint{}, fmt.Errorf("%s: a JSON checkpoint file holds a \"note\"", path)
		}
		data = []byte(body.Note)
	}
	opened, err := note.Open(data, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: the checkpoint's signature: %w", path, err)
	}
	lines := strings.Split(strings.TrimSuffix(opened.Text, "\n"), "\n")
	if len(lines) < 3 || lines[0] == "" {
		return checkpoint{}, fmt.Errorf("%s: a checkpoint is an origin, a size and a root", path)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("%s: the checkpoint's size is not a decimal number", path)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: the checkpoint's root: %w", path, err)
	}
	return checkpoint{origin: lines[0], size: size, root: root, extensions: lines[3:]}, nil
}

func readJSON(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func parseHex(text string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := hex.DecodeString(text)
	if err != nil || len(raw) != tlog.HashSize || hex.EncodeToString(raw) != text {
		return h, fmt.Errorf("%q is not a lowercase hex SHA-256 hash", text)
	}
	copy(h[:], raw)
	return h, nil
}

func parseProof(texts []string) ([]tlog.Hash, error) {
	proof := make([]tlog.Hash, len(texts))
	for i, text := range texts {
		h, err := parseHex(text)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %w", i, err)
		}
		proof[i] = h
	}
	return proof, nil
}

func checkInclusion(cpPath, proofPath, entryHash string, verifier note.Verifier) error {
	cp, err := readCheckpoint(cpPath, verifier)
	if err != nil {
		return err
	}
	var p inclusionProof
	if err := readJSON(proofPath, &p); err != nil {
		return err
	}
	if p.Size != cp.size {
		return fmt.Errorf("the proof is for size %d, the checkpoint is at size %d", p.Size, cp.size)
	}
	leaf, err := parseHex(p.LeafHash)
	if err != nil {
		return fmt.Errorf("leaf_hash: %w", err)
	}
	if entryHash != "" {
		entry, err := parseHex(entryHash)
		if err != nil {
			return usageError{fmt.Errorf("-entry-hash: %w", err)}
		}
		if tlog.RecordHash(entry[:]) != leaf {
			return fmt.Errorf("seq %d: the proof's leaf is not the leaf of entry hash %s", p.Seq, entryHash)
		}
	}
	proof, err := parseProof(p.Proof)
	if err != nil {
		return err
	}
	if err := tlog.CheckRecord(proof, cp.size, cp.root, p.Seq, leaf); err != nil {
		return fmt.Errorf("seq %d is not in %s at size %d: %w", p.Seq, cp.origin, cp.size, err)
	}
	fmt.Printf("ok: seq %d is in %s at size %d\n", p.Seq, cp.origin, cp.size)
	return nil
}

func checkConsistency(oldPath, newPath, proofPath string, verifier note.Verifier) error {
	older, err := readCheckpoint(oldPath, verifier)
	if err != nil {
		return err
	}
	newer, err := readCheckpoint(newPath, verifier)
	if err != nil {
		return err
	}
	if older.origin != newer.origin {
		return fmt.Errorf("the checkpoints are of two logs: %s and %s", older.origin, newer.origin)
	}
	var p consistencyProof
	if err := readJSON(proofPath, &p); err != nil {
		return err
	}
	if p.From != older.size || p.To != newer.size {
		return fmt.Errorf("the proof is from %d to %d, the checkpoints are at %d and %d", p.From, p.To, older.size, newer.size)
	}
	proof, err := parseProof(p.Proof)
	if err != nil {
		return err
	}
	if older.size == 0 {
		fmt.Printf("ok: %s at size %d extends the empty tree\n", newer.origin, newer.size)
		return nil
	}
	if err := tlog.CheckTree(proof, newer.size, newer.root, older.size, older.root); err != nil {
		return fmt.Errorf("%s at size %d does not extend size %d: %w", newer.origin, newer.size, older.size, err)
	}
	fmt.Printf("ok: %s at size %d extends size %d\n", newer.origin, newer.size, older.size)
	return nil
}
