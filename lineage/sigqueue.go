package lineage

import (
	"sync"
	"sync/atomic"

	"github.com/bonsai-lineage/bonsai/signer"
)

// sigChunk is how many signatures a sigQueue checks in one batch: large
// batches cost less per signature (see signer's batch sizes).
const sigChunk = 1024

// sigQueue checks signatures in the background, in batches of sigChunk, on
// its own goroutines, while the check goes on resolving and decoding: the
// cores a level leaves idle (waiting for its slowest share) verify. It
// only says whether every signature verified; which one failed is left to
// a check that does not defer them. The channel's capacity bounds the
// signatures waiting (a level's beyond those), and so their messages in
// memory.
type sigQueue struct {
	chunks chan []signer.Job
	buf    []signer.Job
	closed bool // by wait or stop
	failed atomic.Bool
	wg     sync.WaitGroup
}

func newSigQueue(workers int) *sigQueue {
	q := &sigQueue{chunks: make(chan []signer.Job, 2*workers)}
	for range workers {
		q.wg.Go(func() {
			for jobs := range q.chunks {
				if !q.failed.Load() && !signer.AllValid(jobs) {
					q.failed.Store(true)
				}
			}
		})
	}
	return q
}

// add queues jobs, handing them to the workers sigChunk at a time; it
// waits while the workers are that far behind.
func (q *sigQueue) add(jobs []signer.Job) {
	for len(jobs) > 0 {
		n := min(sigChunk-len(q.buf), len(jobs))
		q.buf = append(q.buf, jobs[:n]...)
		jobs = jobs[n:]
		if len(q.buf) == sigChunk {
			q.chunks <- q.buf
			q.buf = make([]signer.Job, 0, sigChunk)
		}
	}
}

// Failed reports whether a signature checked so far did not verify.
func (q *sigQueue) Failed() bool { return q.failed.Load() }

// wait checks what is left, shared among the workers, and reports whether
// every signature queued verified.
func (q *sigQueue) wait(workers int) bool {
	rest := q.buf
	q.buf = nil
	size := max((len(rest)+workers-1)/workers, 1)
	for lo := 0; lo < len(rest); lo += size {
		q.chunks <- rest[lo:min(lo+size, len(rest))]
	}
	q.stop()
	q.wg.Wait()
	return !q.failed.Load()
}

// stop closes the queue, if wait has not: the workers end once they have
// checked what was queued. Nothing may be added after it.
func (q *sigQueue) stop() {
	if q != nil && !q.closed {
		q.closed = true
		close(q.chunks)
	}
}
