package signer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// KeyFileName is the name of the identity key inside a node's home.
const KeyFileName = "identity.key"

// maxKeyFile bounds how much of a key file is read: a marshalled Ed25519
// key is 68 bytes, anything far larger is not ours.
const maxKeyFile = 4096

// Key is a node's Ed25519 signing identity.
type Key struct {
	priv crypto.PrivKey
	id   peer.ID
}

// Generate returns a new random Ed25519 key.
func Generate() (*Key, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return FromPrivKey(priv)
}

// FromPrivKey wraps an existing libp2p Ed25519 private key.
func FromPrivKey(priv crypto.PrivKey) (*Key, error) {
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("key type %v: only Ed25519 identities are supported", priv.Type())
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	return &Key{priv: priv, id: id}, nil
}

// ID is the libp2p peer ID of the key; the public key is embedded in it.
func (k *Key) ID() peer.ID { return k.id }

// PrivKey returns the libp2p private key, for a libp2p host whose identity is
// this key.
func (k *Key) PrivKey() crypto.PrivKey { return k.priv }

// Sign signs msg with the key.
func (k *Key) Sign(msg []byte) ([]byte, error) {
	sig, err := k.priv.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// Save writes the key to path with mode 0600. It never overwrites an existing
// file: the caller asked for a new identity, an old one must not be lost.
func (k *Key) Save(path string) error {
	raw, err := crypto.MarshalPrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	// Write a temporary file then hard-link it into place: the key appears
	// whole or not at all, and an existing key is never replaced.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Load reads the key at path. It refuses a file that group or others may
// read or write (ErrKeyPermissions) and a missing file (ErrNoKey).
func Load(path string) (*Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (run 'bonsai init')", path, ErrNoKey)
	}
	if err != nil {
		return nil, fmt.Errorf("open key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key %s has mode %04o, want 0600: %w (chmod 600 %s)", path, perm, ErrKeyPermissions, path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if len(raw) > maxKeyFile {
		return nil, fmt.Errorf("key %s: file larger than %d bytes, not a bonsai key", path, maxKeyFile)
	}
	priv, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("key %s: corrupt: %w", path, err)
	}
	k, err := FromPrivKey(priv)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreate loads the key at path, or creates one when there is none.
// created reports whether a new key was written.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	k, err = Load(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, ErrNoKey) {
		return nil, false, err
	}
	k, err = Generate()
	if err != nil {
		return nil, false, err
	}
	if err := k.Save(path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use that one.
			k, err = Load(path)
			return k, false, err
		}
		return nil, false, err
	}
	return k, true, nil
}
