// Package node is a bonsai node's local side: the pebble store of records
// (by CID, indexed by output CID), the local path index that is never
// published, and the recorder that hashes files, signs records and stores
// them durably before their CIDs are handed out.
//
// node is where records become durable; it trusts nothing it did not verify:
// every block written to the store has been opened (CID, strict decode,
// signature) first.
package node
