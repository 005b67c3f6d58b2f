package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// anchorBody is what pm-verify reads of GET .../anchor?size=N; the service's other fields are ignored.
type anchorBody struct {
	Leaf        string   `json:"leaf"`
	LeafIndex   *int64   `json:"leaf_index"`
	Inclusion   []string `json:"inclusion"`
	Consistency []string `json:"consistency"`
	Checkpoint  struct {
		Note string `json:"note"`
	} `json:"checkpoint"`
}

// witnessKeys collects -witness-key flags: witnesses' cosignature/v1 verifier keys (C2SP tlog-cosignature),
// parsed by transparency-dev/formats, since x/mod's note knows Ed25519 signatures only.
type witnessKeys []note.Verifier

func (w *witnessKeys) String() string { return fmt.Sprint(len(*w)) }

func (w *witnessKeys) Set(key string) error {
	verifier, err := fnote.NewVerifierForCosignatureV1(key)
	if err != nil {
		return fmt.Errorf("a witness key: %w", err)
	}
	*w = append(*w, verifier)
	return nil
}

// parseCheckpointText reads a checkpoint's text: origin, size, root, then extension lines.
func parseCheckpointText(text, where string) (checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) < 3 || lines[0] == "" {
		return checkpoint{}, fmt.Errorf("%s: a checkpoint is an origin, a size and a root", where)
	}
	var size int64
	if _, err := fmt.Sscanf(lines[1], "%d", &size); err != nil || size < 0 || fmt.Sprint(size) != lines[1] {
		return checkpoint{}, fmt.Errorf("%s: the checkpoint's size is not a decimal number", where)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: the checkpoint's root: %w", where, err)
	}
	return checkpoint{origin: lines[0], size: size, root: root, extensions: lines[3:]}, nil
}

// checkAnchor checks that the instance checkpoint's tree is anchored: the leaf holds it (or a later tree the
// instance's consistency proof ties to it), the leaf is in the service checkpoint, the service signed that and
// at least quorum of the witnesses cosigned it.
func checkAnchor(cpPath, anchorPath string, verifier note.Verifier, witnesses witnessKeys, quorum int) error {
	instance, err := readCheckpoint(cpPath, verifier)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(anchorPath)
	if err != nil {
		return err
	}
	var body anchorBody
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&body); err != nil || body.LeafIndex == nil {
		return fmt.Errorf("%s: an anchor holds a leaf, its index, two proofs and a checkpoint's note", anchorPath)
	}
	opened, err := note.Open([]byte(body.Checkpoint.Note), note.VerifierList(append(witnesses, verifier)...))
	if err != nil {
		return fmt.Errorf("the service checkpoint: %w", err)
	}
	cosigned := map[string]bool{}
	signedByService := false
	for _, sig := range opened.Sigs {
		if sig.Name == verifier.Name() && sig.Hash == verifier.KeyHash() {
			signedByService = true
		} else {
			cosigned[sig.Name] = true
		}
	}
	if !signedByService {
		return errors.New("the service checkpoint is not signed by the service's key")
	}
	if len(cosigned) < quorum {
		return fmt.Errorf("the service checkpoint is cosigned by %d of the %d witnesses needed", len(cosigned), quorum)
	}
	service, err := parseCheckpointText(opened.Text, "the service checkpoint")
	if err != nil {
		return err
	}
	leaf, err := parseCheckpointText(body.Leaf, "the leaf")
	if err != nil {
		return err
	}
	if len(leaf.extensions) != 0 || leaf.origin != instance.origin || !strings.HasPrefix(leaf.origin, service.origin+"/") {
		return fmt.Errorf("the leaf does not name %s in the service log %s", instance.origin, service.origin)
	}
	if leaf.size < instance.size {
		return fmt.Errorf("the leaf anchors size %d, before the checkpoint's %d", leaf.size, instance.size)
	}
	inclusion, err := parseProof(body.Inclusion)
	if err != nil {
		return err
	}
	index := *body.LeafIndex
	if err := tlog.CheckRecord(inclusion, service.size, service.root, index, tlog.RecordHash([]byte(body.Leaf))); err != nil {
		return fmt.Errorf("the leaf is not leaf %d of %s at size %d: %w", index, service.origin, service.size, err)
	}
	consistency, err := parseProof(body.Consistency)
	if err != nil {
		return err
	}
	if leaf.size == instance.size {
		if leaf.root != instance.root || len(consistency) != 0 {
			return fmt.Errorf("the anchored tree of size %d is not the checkpoint's tree", leaf.size)
		}
	} else if err := tlog.CheckTree(consistency, leaf.size, leaf.root, instance.size, instance.root); err != nil {
		return fmt.Errorf("the anchored tree of size %d does not extend the checkpoint's of size %d: %w", leaf.size, instance.size, err)
	}
	names := make([]string, 0, len(cosigned))
	for name := range cosigned {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Printf("ok: %s at size %d is leaf %d of %s at size %d, cosigned by %s\n",
		instance.origin, instance.size, index, service.origin, service.size, strings.Join(names, ", "))
	return nil
}
