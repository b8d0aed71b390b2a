// Package node is a bonsai node: the pebble store of records (by CID,
// indexed by output CID, with origin metadata, the outbox of records to
// publish and the pins), the local path index that is never published, the
// recorder that hashes files, signs records and stores them durably before
// their CIDs are handed out, and the running daemon (New) that joins the
// swarm through package dht, resolves ancestries across peers, collects
// cached records beyond λ levels, and serves the local API.
//
// node trusts nothing it did not verify: every block written to the store
// has been opened (CID, strict decode, signature) first.
package node
