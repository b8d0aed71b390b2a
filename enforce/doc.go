// Package enforce turns lineage into local decisions: policies (YAML, in
// the shape of Kubernetes-style policy engines) name a scope of paths and
// rules over a file's ancestry (verified, not revoked, confidential), and
// an engine decides whether an open, an exec or a connection may go on.
// The node keeps the policies; the kernel backends (fanotify, cgroup
// socket programs) ask the engine.
package enforce
