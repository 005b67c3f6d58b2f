package main

// pm-verify export: an instance's whole export checked against a signed checkpoint, from the recipe in
// docs/storage.md alone — every entry's data digest and hash, the chain, each redaction's record, the
// tree's root at the checkpoint's size, and that no entry up to that size is missing.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// hashedFields are the fields an entry's hash covers (docs/storage.md, "Recomputing a hash"); recorded_by
// only when it is not null.
var hashedFields = []string{
	"instance_id", "seq", "id", "type", "occurred_at", "recorded_at", "recorded_by",
	"metadata", "size", "data_sha256", "prev_hash",
}

const redactionType = "redaction"

// exportWalk is what checking an export has learnt so far.
type exportWalk struct {
	cp         checkpoint
	instanceID string
	prevHash   any
	stored     []tlog.Hash
	unvouched  map[int64]bool
	headHash   string
}

func (w *exportWalk) readHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		if index < 0 || index >= int64(len(w.stored)) {
			return nil, fmt.Errorf("no stored hash %d", index)
		}
		out[i] = w.stored[index]
	}
	return out, nil
}

func checkExport(cpPath, exportPath string, verifier note.Verifier) error {
	cp, err := readCheckpoint(cpPath, verifier)
	if err != nil {
		return err
	}
	file, err := os.Open(exportPath)
	if err != nil {
		return err
	}
	defer file.Close()
	walk := &exportWalk{cp: cp, unvouched: map[int64]bool{}}
	reader := bufio.NewReaderSize(file, 1<<20)
	var seq int64
	for {
		line, err := reader.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if err := walk.entry(seq, line); err != nil {
				return fmt.Errorf("seq %d: %w", seq, err)
			}
			seq++
		}
		if errors.Is(err, io.EOF) {
			return walk.finish(seq)
		}
		if err != nil {
			return err
		}
	}
}

func (w *exportWalk) finish(count int64) error {
	if count < w.cp.size {
		return fmt.Errorf("seq %d: missing: the checkpoint covers %d entries, the export holds %d", count, w.cp.size, count)
	}
	root, err := tlog.TreeHash(w.cp.size, tlog.HashReaderFunc(w.readHashes))
	if err != nil {
		return err
	}
	if root != w.cp.root {
		return fmt.Errorf("seq %d: the entries up to here are not the ones %s signed at size %d: one was changed, removed or reordered",
			w.cp.size-1, w.cp.origin, w.cp.size)
	}
	for _, extension := range w.cp.extensions {
		if head, found := strings.CutPrefix(extension, "head "); found && head != w.headHash {
			return fmt.Errorf("seq %d: the entry's hash is not the head the checkpoint names", w.cp.size-1)
		}
	}
	first := int64(-1)
	for redacted := range w.unvouched {
		if first < 0 || redacted < first {
			first = redacted
		}
	}
	if first >= 0 {
		return fmt.Errorf("seq %d: redacted, but no redaction entry after it records the erasure", first)
	}
	fmt.Printf("ok: %d entries of %s; the first %d are the ones it signed\n", count, w.cp.origin, w.cp.size)
	return nil
}

func (w *exportWalk) entry(seq int64, line []byte) error {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.UseNumber()
	var entry map[string]any
	if err := decoder.Decode(&entry); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if got, _ := entry["seq"].(json.Number); string(got) != fmt.Sprint(seq) {
		return fmt.Errorf("out of place: the line holds seq %v", entry["seq"])
	}
	id, _ := entry["instance_id"].(string)
	if seq == 0 {
		w.instanceID = id
		if !strings.HasSuffix(w.cp.origin, "/"+id) {
			return fmt.Errorf("instance %q is not the checkpoint's log %s", id, w.cp.origin)
		}
	} else if id != w.instanceID {
		return fmt.Errorf("of instance %q, not %q", id, w.instanceID)
	}
	if entry["prev_hash"] != w.prevHash {
		return errors.New("prev_hash is not the hash of the entry before it")
	}
	if err := w.checkData(seq, entry); err != nil {
		return err
	}
	entryHash, err := recomputedHash(entry)
	if err != nil {
		return err
	}
	if entry["hash"] != entryHash {
		return errors.New("hash is not the hash of the entry's fields")
	}
	w.prevHash = entryHash
	if seq < w.cp.size {
		raw, _ := hex.DecodeString(entryHash)
		hashes, err := tlog.StoredHashes(seq, raw, tlog.HashReaderFunc(w.readHashes))
		if err != nil {
			return err
		}
		w.stored = append(w.stored, hashes...)
		if seq == w.cp.size-1 {
			w.headHash = entryHash
		}
	}
	return nil
}

func (w *exportWalk) checkData(seq int64, entry map[string]any) error {
	if redacted, _ := entry["redacted"].(map[string]any); redacted != nil {
		if entry["data"] != nil {
			return errors.New("redacted, yet it still holds data")
		}
		w.unvouched[seq] = true
		return nil
	}
	data, err := canonical(entry["data"])
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	digest := sha256.Sum256(data)
	if fmt.Sprint(entry["size"]) != fmt.Sprint(len(data)) || entry["data_sha256"] != hex.EncodeToString(digest[:]) {
		return errors.New("data is not the data its size and data_sha256 describe")
	}
	if entry["type"] == redactionType {
		data, _ := entry["data"].(map[string]any)
		if named, ok := data["seq"].(json.Number); ok {
			if n, err := named.Int64(); err == nil && n < seq {
				delete(w.unvouched, n)
			}
		}
	}
	return nil
}

func recomputedHash(entry map[string]any) (string, error) {
	fields := map[string]any{}
	for _, name := range hashedFields {
		value, present := entry[name]
		if name == "recorded_by" && value == nil {
			continue
		}
		if !present {
			return "", fmt.Errorf("no %s", name)
		}
		fields[name] = value
	}
	text, err := canonical(fields)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256(text)
	return hex.EncodeToString(digest[:]), nil
}
