// Command pm-tileread reads process-memory's service log as an independent client would: its checkpoint,
// checked with the log's verifier key (golang.org/x/mod/sumdb/note), then every leaf through torchwood's tile
// reader, which checks each entry bundle against the hash tiles and the tiles against the checkpoint's root.
//
// Usage: pm-tileread -url BASE -key VERIFIERKEY
//
// BASE is where the log's checkpoint and tiles are (…/api/v1/log). It prints the checkpoint's size, then one
// JSON line per leaf ({"index": n, "leaf": "…"}), and exits 1 with the reason on the first thing that fails
// to check.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	base := flag.String("url", "", "base URL of the log's checkpoint and tiles")
	key := flag.String("key", "", "the log's note verifier key")
	flag.Parse()
	if err := run(*base, *key); err != nil {
		fmt.Fprintln(os.Stderr, "pm-tileread:", err)
		os.Exit(1)
	}
}

func run(base, key string) error {
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	fetcher, err := torchwood.NewTileFetcher(base)
	if err != nil {
		return err
	}
	ctx := context.Background()
	signed, err := fetcher.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	opened, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return fmt.Errorf("checkpoint signature: %w", err)
	}
	checkpoint, err := torchwood.ParseCheckpoint(opened.Text)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	fmt.Printf("{\"size\": %d}\n", checkpoint.N)
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		return err
	}
	// Entries may stop before the tree's size, short of a partial tile; resuming yields the rest.
	next := int64(0)
	for next < checkpoint.N {
		before := next
		for index, entry := range client.Entries(ctx, checkpoint.Tree, next) {
			line, _ := json.Marshal(map[string]any{"index": index, "leaf": string(entry)})
			fmt.Println(string(line))
			next = index + 1
		}
		if err := client.Err(); err != nil {
			return err
		}
		if next == before {
			return fmt.Errorf("no entry read from %d of %d", next, checkpoint.N)
		}
	}
	return nil
}
