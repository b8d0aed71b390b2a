package store

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/cockroachdb/pebble/v2"
)

// ErrNoPolicy is returned when a policy name is not in the store.
var ErrNoPolicy = errors.New("no such policy")

// StoredPolicy is an applied policy: its YAML as given, parsed.
type StoredPolicy struct {
	Name   string
	YAML   []byte
	Policy *enforce.Policy
}

// PutPolicy parses a policy's YAML (file names it in errors) and keeps
// it under its name, replacing a policy of that name; a malformed policy
// changes nothing. The write is synced: an applied policy survives a
// crash.
func (s *Store) PutPolicy(file string, yaml []byte) (*enforce.Policy, error) {
	p, err := enforce.ParsePolicy(file, bytes.NewReader(yaml))
	if err != nil {
		return nil, err
	}
	if err := s.db.Set(key(prefixPolicy, []byte(p.Metadata.Name)), yaml, pebble.Sync); err != nil {
		return nil, fmt.Errorf("store policy %s: %w", p.Metadata.Name, err)
	}
	s.Bump()
	return p, nil
}

// DeletePolicy removes the named policy (ErrNoPolicy if there is none).
func (s *Store) DeletePolicy(name string) error {
	k := key(prefixPolicy, []byte(name))
	_, closer, err := s.rd.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("policy %q: %w", name, ErrNoPolicy)
	}
	if err != nil {
		return fmt.Errorf("read policy %s: %w", name, err)
	}
	closer.Close()
	if err := s.db.Delete(k, pebble.Sync); err != nil {
		return fmt.Errorf("remove policy %s: %w", name, err)
	}
	s.Bump()
	return nil
}

// Policies returns every applied policy, by name.
func (s *Store) Policies() ([]StoredPolicy, error) {
	var ps []StoredPolicy
	err := s.scanPrefix([]byte{prefixPolicy}, func(k, v []byte) (bool, error) {
		name := string(k[1:])
		yaml := bytes.Clone(v)
		p, err := enforce.ParsePolicy("stored policy "+name, bytes.NewReader(yaml))
		if err != nil {
			return false, err
		}
		ps = append(ps, StoredPolicy{Name: name, YAML: yaml, Policy: p})
		return true, nil
	})
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, err
}
