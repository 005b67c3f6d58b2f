"""Proofs of an instance's history: its Merkle tree (tlog.py), for inclusion and consistency proofs."""
