// Package lineage defines bonsai's lineage record and CheckLineage.
//
// A record says that executor E ran and produced output O from inputs
// I1..In, signed by E. Inputs are remote pointers: content CIDs of the input
// files, never copies of their history, so a record stays a few hundred bytes
// at any depth. A record is a deterministic DAG-CBOR block and its CID is its
// name everywhere. Decoding is strict and bounded; a record is trusted only
// after its signature verifies.
//
// Check walks a file's ancestry over a Resolver (the local store, later the
// swarm), verifying each record and recursing into every input. lineage knows
// no storage, transport or screen: resolvers and trust options are passed in.
package lineage
