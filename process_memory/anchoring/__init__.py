"""The service log: one Merkle log of every instance's checkpoints, anchored by one writer, signed, and cosigned by
witnesses (docs/proofs.md, "The service log")."""
