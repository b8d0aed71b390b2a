package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
	capture, err := bpf.Open(bpf.Options{All: true})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	events := make(chan bpf.Event, 8192)
	n.goRun(func() {
		defer close(events)
		for {
			ev, err := capture.Read()
			if err != nil {
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	})
	n.goRun(func() {
		<-ctx.Done()
		capture.Close()
	})
	n.goRun(func() { n.watchLoop(capture, events) })
	n.log.Info("watching", "dirs", n.cfg.watch)
	return nil
}

func (n *Node) watchLoop(capture *bpf.Capture, events <-chan bpf.Event) {
	tr := bpf.NewTracker()
	self := uint32(os.Getpid())
	rec := n.Recorder()
	var lostBefore uint64
	for ev := range events {
		if ev.PID == self && ev.Kind != bpf.KindFork {
			continue // the daemon's own reads and writes (its store, hashing)
		}
		tr.Handle(ev)
		if ev.Kind != bpf.KindExit {
			continue
		}
		if lost, err := capture.Lost(); err == nil {
			var total uint64
			for _, v := range lost {
				total += v
			}
			if total > lostBefore {
				n.log.Warn("capture lost events: outputs marked incomplete", "lost", total-lostBefore)
				lostBefore = total
				tr.MarkLost()
			}
		}
		obs := tr.Finish(n.cfg.watch)
		if len(obs) == 0 {
			continue
		}
		outs, err := rec.RecordObserved(obs)
		if err != nil {
			n.log.Warn("recording captured outputs failed", "err", err)
			continue
		}
		for _, o := range outs {
			n.log.Info("recorded", "path", o.Path, "record", o.Record)
		}
	}
}
