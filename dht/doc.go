// Package dht is bonsai's swarm layer: a libp2p host whose identity is the
// node's signing key (TCP and QUIC with Noise, or TCP alone in a private
// swarm with a pre-shared key), a Kademlia DHT of its own (protocol prefix
// /bonsai) whose validator lets a lineage record onto a hop only if it
// decodes, hashes to its key and carries a valid signature, and the direct
// fetch protocol (/bonsai/lineage/1.0.0) that moves records and whole
// ancestries in batches, under size, count, time and per-peer rate limits.
//
// dht is used by node, never the reverse: it knows records (package
// lineage) but no store; what it serves and what it hears are passed in.
package dht
