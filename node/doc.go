// Package node is a running bonsai node: the daemon (New, with functional
// options) that joins the swarm through package dht, publishes the store's
// outbox, acquires the λ levels below its own records, resolves ancestries
// across peers, enforces policies, and serves the local API, metrics and a
// read-only web view (ui.go; its page in ui/, embedded).
//
// It owns the live work — what needs a peer, a socket or a timer — and
// keeps every byte on disk in package store, whose methods are its only way
// to the pebble database; it stores only blocks it has opened (CID, strict
// decode, signature) and never trusts a peer's answer it did not verify.
package node
