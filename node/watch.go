package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
)

// WithWatch makes the daemon capture continuously (eBPF, every process of
// the machine) and record every file written under these directories once
// its writers have exited. Needs root or CAP_BPF and CAP_PERFMON.
func WithWatch(dirs ...string) Option {
	return func(c *config) error {
		for _, d := range dirs {
			abs, err := filepath.Abs(d)
			if err != nil {
				return fmt.Errorf("watch %s: %w", d, err)
			}
			if st, err := os.Stat(abs); err != nil || !st.IsDir() {
				return fmt.Errorf("watch %s: not a directory", d)
			}
			c.watch = append(c.watch, abs)
		}
		return nil
	}
}

// startWatch opens the capture; the loop runs until ctx ends.
func (n *Node) startWatch(ctx context.Context) error {
	capture, err := bpf.Open(bpf.Options{All: true, SkipSystemReads: true})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	n.goRun(func() {
		<-ctx.Done()
		capture.Close()
	})
	n.goRun(func() { n.watchLoop(capture) })
	n.log.Info("watching", "dirs", n.cfg.watch)
	return nil
}

// watchLoop reads the capture and feeds the tracker in one goroutine; at
// each process exit it records the watched outputs whose writers have all
// exited. Losses are charged to their processes once a second at most.
func (n *Node) watchLoop(capture *bpf.Capture) {
	tr := bpf.NewTracker()
	self := uint32(os.Getpid())
	rec := n.Recorder()
	var checked time.Time
	var uncharged uint64
	for {
		ev, err := capture.Read()
		if errors.Is(err, bpf.ErrMalformed) {
			tr.MarkLost(err.Error())
			continue
		}
		if err != nil {
			return // closed
		}
		if ev.Proc.PID == self && ev.Kind != bpf.KindFork {
			continue // the daemon's own reads and writes (its store, hashing)
		}
		tr.Handle(&ev)
		if ev.Kind != bpf.KindExit {
			continue
		}
		if now := time.Now(); now.Sub(checked) > time.Second {
			checked = now
			uncharged = n.chargeLosses(capture, tr, uncharged)
		}
		res := tr.Finish(n.cfg.watch)
		for _, g := range res.Gaps {
			n.log.Warn("capture gap", "what", g.What, "pid", g.Proc.PID, "program", g.Program, "path", g.Path, "outputs", g.Outputs)
		}
		if len(res.Outputs) == 0 {
			continue
		}
		outs, err := rec.RecordObserved(res.Outputs)
		if err != nil {
			n.log.Warn("recording captured outputs failed", "err", err)
			continue
		}
		for _, o := range outs {
			n.log.Info("recorded", "path", o.Path, "record", o.Record)
		}
	}
}

// chargeLosses tells the tracker which processes lost events since the
// last call, and forgets them in the kernel; it returns the count of
// uncharged losses so far.
func (n *Node) chargeLosses(capture *bpf.Capture, tr *bpf.Tracker, uncharged uint64) uint64 {
	lost, err := capture.Lost()
	if err != nil {
		n.log.Warn("capture losses unknown", "err", err)
		return uncharged
	}
	ids := make([]bpf.ProcID, 0, len(lost.Procs))
	for p, kinds := range lost.Procs {
		tr.MarkProcLost(p, kinds)
		ids = append(ids, p)
	}
	if err := capture.ForgetLosses(ids); err != nil {
		n.log.Warn("capture losses", "err", err)
	}
	if lost.Uncharged > uncharged {
		tr.MarkLost(fmt.Sprintf("lost %d events that could not be charged to a process", lost.Uncharged-uncharged))
	}
	return lost.Uncharged
}
