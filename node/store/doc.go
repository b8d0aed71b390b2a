// Package store is a bonsai node's durable state: the pebble store of
// records (by CID, indexed by output, with origin metadata), the local path
// index, the outbox entries, pins, the acquire queue, policies, the audit
// log and revocations, GC over them, the recorder that hashes, signs and
// stores records before their CIDs are handed out, and the CAR format that
// import reads and export writes (ReadCAR, WriteCAR).
//
// One process owns a store at a time (an flock on home/store.lock). It
// never touches the network — no libp2p host, no dht; what it needs of the
// swarm, GC's Closest or Pin's resolver, is passed in — and it writes only
// blocks opened first (CID, strict decode, signature), by itself or, for
// PutCachedOpened, by its caller.
package store
