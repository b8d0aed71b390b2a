package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
)

// StateFile records a process testnet in its directory.
const StateFile = "testnet.json"

// ProcNode is one daemon of a process testnet.
type ProcNode struct {
	Home string `json:"home"`
	PID  int    `json:"pid"`
	ID   string `json:"peer"`
	Addr string `json:"addr"` // dialable, with /p2p/ID
}

// ProcNet is a testnet of daemons running as separate processes.
type ProcNet struct {
	Dir   string     `json:"dir"`
	Nodes []ProcNode `json:"nodes"`
}

// UpOptions configure Up.
type UpOptions struct {
	Bin      string   // the bonsai binary
	Dir      string   // homes go to Dir/node1 … Dir/nodeN
	Nodes    int      // how many daemons
	BasePort int      // node i listens on BasePort+i-1 (TCP, loopback)
	Args     []string // extra daemon flags, e.g. --replication 2
}

// Up starts N daemons on loopback, each bootstrapped to the first, and
// returns once every one answers on its local API and is connected (the
// first to all others, the others to at least one peer).
func Up(ctx context.Context, o UpOptions) (*ProcNet, error) {
	if o.Nodes < 1 {
		return nil, fmt.Errorf("testnet: %d nodes: need at least 1", o.Nodes)
	}
	if _, err := os.Stat(filepath.Join(o.Dir, StateFile)); err == nil {
		return nil, fmt.Errorf("testnet already up in %s ('bonsai testnet down --dir %s' first)", o.Dir, o.Dir)
	}
	net := &ProcNet{Dir: o.Dir}
	for i := 0; i < o.Nodes; i++ {
		home := Home(o.Dir, i)
		key, _, err := store.Init(home)
		if err != nil {
			net.Down(ctx)
			return nil, err
		}
		port := o.BasePort + i
		args := []string{"--home", home, "daemon", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
		if i > 0 {
			args = append(args, "--bootstrap", net.Nodes[0].Addr)
		}
		args = append(args, o.Args...)
		logf, err := os.OpenFile(filepath.Join(home, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			net.Down(ctx)
			return nil, err
		}
		cmd := exec.Command(o.Bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		// Its own session: the daemons outlive the command that started
		// them and a ^C in that terminal.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			net.Down(ctx)
			return nil, fmt.Errorf("start daemon %d: %w", i+1, err)
		}
		logf.Close()
		go cmd.Wait() // reap it if it dies while we wait
		pn := ProcNode{Home: home, PID: cmd.Process.Pid, ID: key.ID().String(),
			Addr: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, key.ID())}
		net.Nodes = append(net.Nodes, pn)
		if err := net.save(); err != nil {
			net.Down(ctx)
			return nil, err
		}
		if err := waitAPI(ctx, pn, 0); err != nil {
			net.Down(ctx)
			return nil, fmt.Errorf("daemon %d: %w (see %s)", i+1, err, filepath.Join(home, "daemon.log"))
		}
	}
	for i, pn := range net.Nodes {
		want := 1
		if i == 0 {
			want = len(net.Nodes) - 1
		}
		if err := waitAPI(ctx, pn, want); err != nil {
			net.Down(ctx)
			return nil, fmt.Errorf("daemon %d: %w", i+1, err)
		}
	}
	return net, nil
}

func (p *ProcNet) save() error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Dir, StateFile), data, 0o600)
}

// Load reads the testnet recorded in dir.
func Load(dir string) (*ProcNet, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("no testnet in %s: %w", dir, err)
	}
	var p ProcNet
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return &p, nil
}

// apiInfo asks a daemon's local API who it is and how many peers it has.
func apiInfo(ctx context.Context, home string) (node.APIInfo, error) {
	c := node.NewClient(home)
	defer c.Close()
	return c.Info(ctx)
}

// waitAPI waits until the daemon answers with at least peers peers, or its
// process is gone.
func waitAPI(ctx context.Context, pn ProcNode, peers int) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		info, err := apiInfo(ictx, pn.Home)
		cancel()
		if err == nil && info.Peers >= peers {
			return nil
		}
		if !alive(pn.PID) {
			return errors.New("daemon exited")
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("not ready (%d peers wanted): %w", peers, ctx.Err())
		}
	}
}

func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie (exited, not yet reaped by its parent) is not alive.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat))
	return len(fields) < 3 || fields[2] != "Z"
}

// NodeStatus is one line of `bonsai testnet status`.
type NodeStatus struct {
	ProcNode
	Running bool   `json:"running"`
	Peers   int    `json:"peers"`
	Error   string `json:"error,omitempty"`
}

// Status reports every daemon of the testnet.
func (p *ProcNet) Status(ctx context.Context) []NodeStatus {
	var out []NodeStatus
	for _, pn := range p.Nodes {
		st := NodeStatus{ProcNode: pn, Running: alive(pn.PID)}
		if st.Running {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			info, err := apiInfo(ictx, pn.Home)
			cancel()
			if err != nil {
				st.Error = err.Error()
			} else {
				st.Peers = info.Peers
			}
		}
		out = append(out, st)
	}
	return out
}

// Stop stops daemon i (0-based) with SIGTERM, and SIGKILL if it has not
// exited within 10 seconds.
func (p *ProcNet) Stop(ctx context.Context, i int) error {
	pn := p.Nodes[i]
	if !alive(pn.PID) {
		return nil
	}
	if err := syscall.Kill(pn.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop daemon %d: %w", i+1, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for alive(pn.PID) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pn.PID, syscall.SIGKILL)
			return fmt.Errorf("daemon %d did not stop on SIGTERM: killed", i+1)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Down stops every daemon and forgets the testnet (the homes stay).
func (p *ProcNet) Down(ctx context.Context) error {
	var errs []error
	for i := range p.Nodes {
		errs = append(errs, p.Stop(ctx, i))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(p.Dir, StateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
