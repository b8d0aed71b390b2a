package bpf

// Losses says what the kernel could not deliver (the ring buffer was
// full) since Open, and to which processes it belonged.
type Losses struct {
	// ByKind counts lost events per kind; every kind is present.
	ByKind map[Kind]uint64
	// Procs are the processes that lost events, with the kinds lost. A
	// lost Fork is charged to the child: what it inherited is unknown.
	Procs map[ProcID][]Kind
	// Uncharged counts losses that could not be charged to a process
	// (the table of processes with losses was full): then nothing the
	// capture saw since Open is known to be complete.
	Uncharged uint64
}

// Total is the number of events lost.
func (l Losses) Total() uint64 {
	var n uint64
	for _, v := range l.ByKind {
		n += v
	}
	return n
}
