// Package cborx is bonsai's one home for strict CBOR options.
//
// Every CBOR value bonsai reads from a peer or from disk goes through a
// decoding mode built by [Strict]: the record and revocation wire format
// (lineage), the direct fetch protocol's messages (dht) and the store's own
// small values (outbox entries, pins, journal entries). What is common to
// all of them lives here; what differs between them is a [Profile] field.
//
// Decoding always refuses
//   - duplicate map keys, and keys naming no field of the target struct;
//   - indefinite-length strings, arrays and maps;
//   - invalid UTF-8 in text strings;
//   - byte strings decoded into Go strings;
//   - arrays, maps or nesting beyond the profile's [Limits], checked while
//     the input is checked for well-formedness, before anything is
//     allocated;
//   - tags, unless the profile allows them (DAG-CBOR links are tag 42).
//
// Encoding is always deterministic (sorted map keys, shortest integer and
// length heads, no indefinite lengths), in one of two key orders ([Order]),
// and writes a tag only when the profile's decoding would accept one.
package cborx
