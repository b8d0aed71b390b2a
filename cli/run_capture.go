package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
)

// runGrace is how long a run waits, after its command exits, for the
// processes the command left behind.
const runGrace = 3 * time.Second

// capturedRun is what `bonsai run` observed.
type capturedRun struct {
	Command []string
	Status  int // the command's exit status; 128+N for signal N
	Result  bpf.Result
	Summary bpf.Summary
	Lost    bpf.Losses
	// CaptureCPU is bonsai's own CPU time (user and system) up to the
	// run's conclusion; KernelCPU the capture programs' (zero unless the
	// kernel's BPF statistics are on).
	CaptureCPU, KernelCPU time.Duration
}

// captureRun runs argv (path is argv[0] looked up) in a cgroup of its own
// under eBPF capture until every process of it has exited, and concludes
// its outputs. One goroutine reads the ring buffer and feeds the tracker;
// another waits for the command, then for its cgroup to empty, then
// flushes the capture: every event of the run has then been read. The
// files behind streams (bonsai's own standard output and error) are not
// outputs: bonsai writes to them after recording.
func captureRun(ctx context.Context, argv []string, path string, stdout, stderr io.Writer, streams ...io.Writer) (*capturedRun, error) {
	// The capture first: without privileges it says which ones are missing.
	capture, err := bpf.Open(bpf.Options{SkipSystemReads: true})
	if err != nil {
		return nil, captureError(err)
	}
	defer capture.Close()
	cg, err := newRunCgroup()
	if err != nil {
		return nil, err
	}
	defer cg.remove()
	if err := capture.AddCgroup(cg.id); err != nil {
		return nil, err
	}

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, childOutput(stdout), childOutput(stderr)
	cmd.SysProcAttr = cg.procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", argv[0], err)
	}

	type ending struct {
		wait        error // cmd.Wait's
		running     bool  // processes of the run outlived the grace period
		interrupted bool  // ctx ended first: the run was killed
		err         error
	}
	done := make(chan ending, 1)
	go func() {
		var e ending
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case e.wait = <-waited:
		case <-ctx.Done():
			e.interrupted = true
			e.err = cg.kill()
			e.wait = <-waited
		}
		empty, err := cg.waitEmpty(ctx, runGrace)
		if !empty && ctx.Err() != nil && err == nil {
			e.interrupted = true
			e.err = cg.kill()
			empty, err = cg.waitEmpty(context.Background(), runGrace)
		}
		e.running = !empty
		e.err = errors.Join(e.err, err, capture.Flush())
		done <- e
	}()

	tr := bpf.NewTracker()
	for _, w := range streams {
		if f := fileOf(w); f != nil {
			var st syscall.Stat_t
			if syscall.Fstat(int(f.Fd()), &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG {
				tr.NotOutput(uint64(st.Dev), st.Ino)
			}
		}
	}
	malformed := false
	for {
		ev, err := capture.Read()
		if errors.Is(err, bpf.ErrFlushed) {
			break
		}
		if errors.Is(err, bpf.ErrMalformed) {
			if !malformed {
				malformed = true
				tr.MarkLost(err.Error())
			}
			continue
		}
		if err != nil {
			cg.kill()
			<-done
			return nil, fmt.Errorf("capture: %w", err)
		}
		tr.Handle(&ev)
	}
	end := <-done
	if end.err != nil {
		return nil, fmt.Errorf("run %s: %w", argv[0], end.err)
	}

	run := &capturedRun{Command: argv}
	var ee *exec.ExitError
	switch {
	case end.wait == nil:
	case errors.As(end.wait, &ee):
		run.Status = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			run.Status = 128 + int(ws.Signal())
			if !end.interrupted {
				// Killed mid-way: what it wrote may be half written.
				tr.MarkLost(fmt.Sprintf("the command was killed by %s", signalName(ws.Signal())))
			}
		}
	default:
		return nil, fmt.Errorf("run %s: %w", argv[0], end.wait)
	}
	if end.interrupted {
		tr.MarkLost("the run was interrupted")
	}
	if end.running {
		tr.MarkRunning()
	}
	if run.Lost, err = capture.Lost(); err != nil {
		return nil, err
	}
	if run.KernelCPU, err = capture.RunTime(); err != nil {
		return nil, err
	}
	for p, kinds := range run.Lost.Procs {
		tr.MarkProcLost(p, kinds)
	}
	if run.Lost.Uncharged > 0 {
		tr.MarkLost(fmt.Sprintf("lost %s that could not be charged to a process", plural(int(run.Lost.Uncharged), "event")))
	}
	run.Result = tr.Conclude()
	run.Summary = tr.Summary()
	run.CaptureCPU = selfCPU()
	return run, nil
}

// selfCPU is the CPU time (user and system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
