package node

import (
	"errors"
	"net/netip"

	"context"
	"fmt"
	"github.com/bonsai-lineage/bonsai/bpf"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bonsai-lineage/bonsai/enforce"
)

// heartbeat is how often a running enforcement records that it is up: an
// unclean stop is reported as a gap from its last beat.
const heartbeat = 5 * time.Second

// EnforcementStatus says which enforcement backends are active and why.
type EnforcementStatus struct {
	// Files is the open/exec backend: "fanotify" or "none".
	Files     string   `json:"files"`
	FilesWhy  string   `json:"files_why"`
	Marks     []string `json:"marks,omitempty"` // paths whose mounts are watched
	Policies  []string `json:"policies"`
	Egress    string   `json:"egress"`
	LSM       string   `json:"lsm"`
	FailMode  string   `json:"fail_mode"`
	Since     string   `json:"since,omitempty"`
	Decisions uint64   `json:"decisions"`
	// AuditDropped counts decisions made but not logged because the
	// audit writer was behind (the opener is never held for the log).
	AuditDropped uint64 `json:"audit_dropped"`
	EgressDenied uint64 `json:"egress_denied"`
}

// enforcement is a node's running enforcement.
type enforcement struct {
	reload    sync.Mutex // one ReloadPolicies at a time
	mu        sync.Mutex
	guard     *enforce.Guard
	status    EnforcementStatus
	policies  atomic.Pointer[[]*enforce.Policy]
	decisions atomic.Uint64
	auditQ    chan enforce.Event         // to the audit writer; closed when the guard is done
	egress    atomic.Pointer[bpf.Egress] // loaded with the first confidential rule
	guardOK   bool                       // the guard runs: egress may load
	dropped   atomic.Uint64              // decisions not logged: the writer was behind
}

// FailMode is what happens when the enforcing daemon dies, as the status
// and the documentation say it.
const FailMode = "if the daemon dies, the kernel allows the opens and execs pending and checks none until it restarts; the gap is logged at the next start"

// startEnforcement loads the policies, reports a gap left by an unclean
// stop, and runs the fanotify guard when the kernel allows it.
func (n *Node) startEnforcement(ctx context.Context) (err error) {
	e := &enforcement{auditQ: make(chan enforce.Event, 4096)}
	empty := []*enforce.Policy{}
	e.policies.Store(&empty)
	n.enf = e
	n.goRun(func() { n.auditWriter() })
	defer func() {
		if err != nil {
			close(e.auditQ) // nothing runs that would log
		}
	}()
	e.status = EnforcementStatus{Files: "none", Egress: "none: loaded with the first confidential rule",
		LSM: lsmStatus(), FailMode: FailMode}
	if err := n.ReloadPolicies(); err != nil {
		return err
	}
	now := time.Now()
	if last, gap, err := n.Store.EnforcementGap(); err != nil {
		return err
	} else if gap {
		ev := enforce.Event{Time: now.UTC(), Kind: "gap", Decision: "none", UID: -1,
			Reason: fmt.Sprintf("enforcement down from %s to %s: the daemon stopped without a clean shutdown; opens and execs were not checked",
				last.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
		if err := n.Store.AuditAppend(n.cfg.auditEntries, ev); err != nil {
			return err
		}
		n.log.Warn("enforcement gap", "from", last, "to", now)
	}
	opts := []enforce.Option{enforce.WithResolver(n.Resolver()),
		enforce.WithPolicies(func() []*enforce.Policy { return *e.policies.Load() }),
		enforce.WithGeneration(n.Store.Generation),
		enforce.WithAudit(n.auditEvent),
		enforce.WithAllowOnTimeout(n.cfg.allowLate)}
	if n.cfg.decideWithin > 0 {
		opts = append(opts, enforce.WithDecisionTimeout(n.cfg.decideWithin))
	}
	// An opener of confidential data is tainted before its open returns;
	// with no egress programs loaded it is refused instead (fail closed).
	opts = append(opts, enforce.WithTaint(func(pid int32) error {
		eg := e.egress.Load()
		if eg == nil {
			return errors.New("egress control is not loaded: " + n.Enforcement().Egress)
		}
		return eg.Taint(uint32(pid), 0)
	}))
	g, err := enforce.NewGuard(opts...)
	if err != nil {
		e.status.FilesWhy = err.Error()
		n.log.Warn("enforcement of opens and execs unavailable", "err", err)
		// Nothing enforces from here on: no gap to report next time.
		if err := n.Store.EnforcementStopped(); err != nil {
			n.log.Warn("recording that enforcement is off", "err", err)
		}
		n.goRun(func() {
			<-ctx.Done()
			close(e.auditQ)
		})
		return nil
	}
	e.guard = g
	e.guardOK = true
	n.Store.OnGeneration(g.Invalidate)
	if err := n.allowEgress(*e.policies.Load()); err != nil {
		g.Close()
		return err
	}
	if err := n.markScopes(); err != nil {
		g.Close()
		return err
	}
	e.status.Files, e.status.FilesWhy = "fanotify", "permission events (FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM) on the scopes' filesystems, unlimited queue"
	e.status.Since = now.UTC().Format(time.RFC3339)
	if err := n.Store.EnforcementBeat(now, now); err != nil {
		g.Close()
		return err
	}
	// The heartbeat lasts as long as the guard: a guard that fails leaves
	// its last beat, and the next start reports the gap from there.
	beatCtx, guardDown := context.WithCancel(ctx)
	n.goRun(func() {
		if err := g.Run(ctx); err != nil {
			n.log.Error("enforcement stopped: opens and execs are no longer checked", "err", err)
			e.mu.Lock()
			e.status.Files, e.status.FilesWhy = "none", "the fanotify guard failed: "+err.Error()
			e.mu.Unlock()
		}
		guardDown()
		close(e.auditQ) // every worker is done: nothing more to log
		if eg := e.egress.Load(); eg != nil {
			eg.Close() // the pinned programs and maps stay: egress stays denied
		}
	})
	n.goRun(func() {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-beatCtx.Done():
				if ctx.Err() == nil {
					return // the guard failed: no clean stop to record
				}
				if err := n.Store.EnforcementStopped(); err != nil {
					n.log.Warn("recording a clean stop of enforcement", "err", err)
				}
				return
			case now := <-t.C:
				if err := n.Store.EnforcementBeat(now, now); err != nil {
					n.log.Warn("enforcement heartbeat", "err", err)
				}
			}
		}
	})
	return nil
}

// lsmStatus probes for the BPF LSM: active only when the kernel lists it.
func lsmStatus() string {
	data, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		return "none: cannot read /sys/kernel/security/lsm: " + err.Error()
	}
	list := strings.TrimSpace(string(data))
	if slices.Contains(strings.Split(list, ","), "bpf") {
		return "none: the kernel has the BPF LSM (" + list + ") but bonsai has no LSM programs yet; fanotify is used"
	}
	return "none: the BPF LSM is not among the kernel's active LSMs (" + list + "); fanotify is used"
}

// ReloadPolicies reads the applied policies from the store into the
// running set and re-marks the filesystems of their scopes.
func (n *Node) ReloadPolicies() error {
	e := n.enf
	if e == nil {
		return nil
	}
	e.reload.Lock()
	defer e.reload.Unlock()
	// Verdicts made under the old set are decided again.
	defer n.Store.Bump()
	stored, err := n.Store.Policies()
	if err != nil {
		return err
	}
	ps := make([]*enforce.Policy, len(stored))
	names := make([]string, len(stored))
	for i, s := range stored {
		ps[i], names[i] = s.Policy, s.Name
	}
	e.policies.Store(&ps)
	e.mu.Lock()
	e.status.Policies = names
	e.mu.Unlock()
	if err := n.allowEgress(ps); err != nil {
		return err
	}
	return n.markScopes()
}

// startEgress loads the egress programs on the whole cgroup v2 hierarchy,
// pinned so they outlive the daemon: done with the first confidential
// rule, so a node without one changes nothing in the kernel.
func (n *Node) startEgress() (*bpf.Egress, error) {
	e := n.enf
	root, err := bpf.Cgroup2Mount()
	if err != nil {
		return nil, err
	}
	pin := n.cfg.egressPin
	if pin == "" {
		pin = bpf.DefaultEgressPin
	}
	eg, err := bpf.LoadEgress(root, pin)
	if err != nil {
		return nil, err
	}
	e.egress.Store(eg)
	e.mu.Lock()
	e.status.Egress = fmt.Sprintf("cgroup socket programs (connect4/6, sendmsg4/6) on %s, pinned at %s: a process that opened confidential data, and its children, reach only allowEgress, even if the daemon dies", root, pin)
	e.mu.Unlock()
	return eg, nil
}

// allowEgress gives the egress programs the destinations every
// confidential rule allows, loading them with the first such rule.
func (n *Node) allowEgress(ps []*enforce.Policy) error {
	e := n.enf
	if e == nil || !e.guardOK {
		return nil
	}
	var dests []netip.AddrPort
	confidential := false
	for _, p := range ps {
		for _, r := range p.Spec.Rules {
			if r.Confidential == nil {
				continue
			}
			confidential = true
			for _, s := range r.Confidential.AllowEgress {
				d, err := netip.ParseAddrPort(s)
				if err != nil {
					return fmt.Errorf("policy %s: allowEgress %q: %w", p.Metadata.Name, s, err)
				}
				dests = append(dests, d)
			}
		}
	}
	eg := e.egress.Load()
	if eg == nil {
		if !confidential {
			return nil
		}
		var err error
		if eg, err = n.startEgress(); err != nil {
			e.mu.Lock()
			e.status.Egress = "none: " + err.Error() + " (opens of confidential data are refused)"
			e.mu.Unlock()
			n.log.Warn("egress control unavailable: opens of confidential data are refused", "err", err)
			return nil
		}
	}
	return eg.SetAllowed(dests)
}

func (n *Node) markScopes() error {
	e := n.enf
	if e == nil || e.guard == nil {
		return nil
	}
	var paths []string
	for _, p := range *e.policies.Load() {
		paths = append(paths, p.Spec.Scope.Paths...)
	}
	if err := e.guard.Mark(paths); err != nil {
		return err
	}
	e.mu.Lock()
	e.status.Marks = e.guard.Marks()
	e.mu.Unlock()
	return nil
}

// Enforcement is the enforcement's status now.
func (n *Node) Enforcement() EnforcementStatus {
	e := n.enf
	if e == nil {
		return EnforcementStatus{Files: "none", FilesWhy: "enforcement is off in this daemon", Egress: "none", LSM: lsmStatus(), FailMode: FailMode}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.status
	st.Decisions = e.decisions.Load()
	st.AuditDropped = e.dropped.Load()
	if eg := e.egress.Load(); eg != nil {
		st.EgressDenied = eg.Denied()
	}
	if e.guard != nil {
		st.AuditDropped += e.guard.AuditDropped()
	}
	return st
}

// auditEvent queues one decision for the audit log (the decision is
// answered already). A full queue drops it, counted: a worker waiting for
// the log could hold back the node's own opens.
func (n *Node) auditEvent(ev enforce.Event) {
	n.enf.decisions.Add(1)
	select {
	case n.enf.auditQ <- ev:
	default:
		n.enf.dropped.Add(1)
	}
}

// auditWriter writes queued decisions in synced batches (one fsync for
// every event that queued during the previous one) until the queue is
// closed.
func (n *Node) auditWriter() {
	q := n.enf.auditQ
	for ev := range q {
		batch := []enforce.Event{ev}
	more:
		for len(batch) < 1024 {
			select {
			case ev, ok := <-q:
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		if err := n.Store.AuditAppend(n.cfg.auditEntries, batch...); err != nil {
			n.log.Warn("audit log", "err", err, "events", len(batch))
		}
	}
}
