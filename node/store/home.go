package store

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bonsai-lineage/bonsai/signer"
)

// Init creates a node's home (mode 0700), its identity key (0600) and an
// empty store. It is idempotent: an existing key is kept, never replaced.
func Init(home string) (key *signer.Key, created bool, err error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, false, fmt.Errorf("create home: %w", err)
	}
	key, created, err = signer.LoadOrCreate(filepath.Join(home, signer.KeyFileName))
	if err != nil {
		return nil, false, err
	}
	st, err := Open(home)
	if err != nil {
		return nil, false, err
	}
	return key, created, st.Close()
}
