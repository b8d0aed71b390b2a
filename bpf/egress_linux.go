//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultEgressPin is where the egress programs' maps and links are pinned
// (bpffs): they outlive the daemon, so egress stays denied if it dies.
const DefaultEgressPin = "/sys/fs/bpf/bonsai-egress"

// Egress is the confidential-data egress control: tainted processes (and
// their children) may connect or send only to the allowed destinations.
type Egress struct {
	objs  egressObjects
	links []link.Link
	pin   string
}

// LoadEgress loads the egress programs and attaches the socket programs to
// the cgroup v2 directory cgroup (every process under it) and the fork and
// exit programs to their tracepoints. Maps and links are pinned under pin:
// a second load (a restarted daemon) reuses the maps, so taints survive,
// and replaces the programs behind the pinned links without a gap.
func LoadEgress(cgroup, pin string) (*Egress, error) {
	if err := ensureBPFFS(filepath.Dir(pin)); err != nil {
		return nil, classify("bpffs", err)
	}
	if err := os.MkdirAll(pin, 0o700); err != nil {
		return nil, classify("pin directory "+pin, err)
	}
	raiseMemlock()
	e := &Egress{pin: pin}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pin}}
	err := loadEgressObjects(&e.objs, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// Maps pinned by an older build: start afresh (their taints go).
		for _, name := range []string{"tainted", "allow4", "allow6", "denied"} {
			os.Remove(filepath.Join(pin, name))
		}
		err = loadEgressObjects(&e.objs, opts)
	}
	if err != nil {
		return nil, classify("load egress programs", err)
	}
	attach := []struct {
		name string
		prog *ebpf.Program
		cg   ebpf.AttachType
	}{
		{"fork", e.objs.EgressFork, 0},
		{"exit", e.objs.EgressExit, 0},
		{"sock_create", e.objs.EgressSockCreate, ebpf.AttachCGroupInetSockCreate},
		{"connect4", e.objs.EgressConnect4, ebpf.AttachCGroupInet4Connect},
		{"connect6", e.objs.EgressConnect6, ebpf.AttachCGroupInet6Connect},
		{"sendmsg4", e.objs.EgressSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{"sendmsg6", e.objs.EgressSendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
	}
	for _, a := range attach {
		// The new link is attached and pinned before a previous daemon's
		// is let go (renamed over): the hook is never missing.
		var l link.Link
		var err error
		if a.cg == 0 {
			l, err = link.AttachTracing(link.TracingOptions{Program: a.prog})
		} else {
			l, err = link.AttachCgroup(link.CgroupOptions{Path: cgroup, Attach: a.cg, Program: a.prog})
		}
		if err != nil {
			e.Close()
			return nil, classify("attach egress "+a.name, err)
		}
		path := filepath.Join(pin, "link_"+a.name)
		tmp := path + "_new" // bpffs names take no dots
		os.Remove(tmp)
		if err := l.Pin(tmp); err != nil {
			l.Close()
			e.Close()
			return nil, classify("pin egress link "+a.name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			l.Close()
			e.Close()
			return nil, classify("pin egress link "+a.name, err)
		}
		e.links = append(e.links, l)
	}
	return e, nil
}

// ensureBPFFS mounts a bpf filesystem on dir unless one is there (a
// machine that booted without /sys/fs/bpf mounted).
func ensureBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", dir, err)
	}
	return nil
}

// Taint marks process tgid as having read confidential data (start is
// kept for the record, unused by the programs).
func (e *Egress) Taint(tgid uint32, start uint64) error {
	if tgid == 0 {
		return errors.New("bpf: taint: no process")
	}
	if err := e.objs.Tainted.Update(tgid, start, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("bpf: taint %d: %w", tgid, err)
	}
	return nil
}

// Tainted reports whether process tgid is tainted.
func (e *Egress) Tainted(tgid uint32) bool {
	var start uint64
	return e.objs.Tainted.Lookup(tgid, &start) == nil
}

// SetAllowed replaces the destinations tainted processes may still reach.
func (e *Egress) SetAllowed(dests []netip.AddrPort) error {
	want4 := map[egressAddr4]bool{}
	want6 := map[egressAddr6]bool{}
	for _, d := range dests {
		port := uint32(d.Port()>>8 | (d.Port()&0xff)<<8) // network order
		if a := d.Addr().Unmap(); a.Is4() {
			b := a.As4()
			want4[egressAddr4{Ip: uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, Port: port}] = true
		} else {
			b := a.As16()
			var k egressAddr6
			for i := range 4 {
				k.Ip[i] = uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24
			}
			k.Port = port
			want6[k] = true
		}
	}
	if err := syncAllowed(e.objs.Allow4, want4); err != nil {
		return err
	}
	return syncAllowed(e.objs.Allow6, want6)
}

// syncAllowed makes the keys of allow those of want: added first,
// removed after, so a destination in both lists is never missing in
// between (and nothing is deleted while the map is iterated).
func syncAllowed[K comparable](allow *ebpf.Map, want map[K]bool) error {
	var stale []K
	var k K
	var one uint8
	it := allow.Iterate()
	for it.Next(&k, &one) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("bpf: read allow list: %w", err)
	}
	for k := range want {
		if err := allow.Update(k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("bpf: allow %v: %w", k, err)
		}
	}
	for _, k := range stale {
		if err := allow.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("bpf: disallow %v: %w", k, err)
		}
	}
	return nil
}

// Denied counts connections and datagrams refused so far.
func (e *Egress) Denied() uint64 {
	var n uint64
	_ = e.objs.Denied.Lookup(uint32(0), &n)
	return n
}

// Close releases this process's handles; the pinned maps and links stay,
// and keep egress denied.
func (e *Egress) Close() error {
	for _, l := range e.links {
		l.Close()
	}
	return e.objs.Close()
}

// RemoveEgress detaches the egress programs and removes their pins: nothing
// is denied any more, and taints are forgotten.
func RemoveEgress(pin string) error {
	entries, err := os.ReadDir(pin)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, en := range entries {
		if err := os.Remove(filepath.Join(pin, en.Name())); err != nil {
			return err
		}
	}
	return os.Remove(pin)
}
