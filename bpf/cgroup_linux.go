//go:build linux

package bpf

import (
	"bufio"
	"errors"
	"os"
	"strings"
)

// Cgroup2Mount finds where the unified (v2) hierarchy is mounted: the
// whole of /sys/fs/cgroup on a pure v2 system, /sys/fs/cgroup/unified on a
// hybrid one.
func Cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" {
				return fields[4], nil
			}
		}
	}
	return "", errors.New("no cgroup v2 hierarchy mounted")
}
