// Package testnet runs local bonsai swarms on loopback: in-process nodes
// with real libp2p hosts and a real DHT for tests and benchmarks, and
// daemons as separate processes for people (`bonsai testnet up`).
package testnet
