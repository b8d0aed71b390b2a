package signer_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

func TestLoadOrCreateIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", signer.KeyFileName)
	k1, created, err := signer.LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate(new) = %v, created=%v; want nil, true", err, created)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("key mode = %04o, want 0600", got)
	}
	k2, created, err := signer.LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("LoadOrCreate(existing) = %v, created=%v; want nil, false", err, created)
	}
	if k1.ID() != k2.ID() {
		t.Errorf("ID after reload = %s, want %s", k2.ID(), k1.ID())
	}
}

func TestSaveNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), signer.KeyFileName)
	k1, _ := signer.Generate()
	k2, _ := signer.Generate()
	if err := k1.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := k2.Save(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Save over an existing key = %v, want ErrExist", err)
	}
	k, err := signer.Load(path)
	if err != nil || k.ID() != k1.ID() {
		t.Errorf("Load = %v, %v; want the first key %s", k, err, k1.ID())
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	k, _ := signer.Generate()
	if err := k.Save(good); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw, _ := os.ReadFile(good)
	tests := []struct {
		name string
		path string
		want error
	}{
		{"readable by group", write("g", raw, 0o640), signer.ErrKeyPermissions},
		{"readable by others", write("o", raw, 0o604), signer.ErrKeyPermissions},
		{"missing", filepath.Join(dir, "none"), signer.ErrNoKey},
	}
	for _, tt := range tests {
		if _, err := signer.Load(tt.path); !errors.Is(err, tt.want) {
			t.Errorf("Load(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := signer.Load(write("garbage", []byte("not a key"), 0o600)); err == nil {
		t.Errorf("Load(garbage) = nil, want an error")
	}
}

func TestVerify(t *testing.T) {
	k, _ := signer.Generate()
	other, _ := signer.Generate()
	msg := []byte("hello")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := mh.Sum([]byte("x"), mh.SHA2_256, -1)
	hashed, _ := peer.IDFromBytes(h)
	flipped := append([]byte(nil), sig...)
	flipped[3] ^= 1
	tests := []struct {
		name string
		id   peer.ID
		msg  []byte
		sig  []byte
		want error
	}{
		{"good", k.ID(), msg, sig, nil},
		{"other key", other.ID(), msg, sig, signer.ErrBadSignature},
		{"other message", k.ID(), []byte("hellO"), sig, signer.ErrBadSignature},
		{"flipped bit", k.ID(), msg, flipped, signer.ErrBadSignature},
		{"short signature", k.ID(), msg, sig[:10], signer.ErrBadSignature},
		{"hashed peer ID", hashed, msg, sig, signer.ErrUnknownKey},
	}
	jobs := make([]signer.Job, len(tests))
	for i, tt := range tests {
		if err := signer.Verify(tt.id, tt.msg, tt.sig); !errors.Is(err, tt.want) {
			t.Errorf("Verify(%s) = %v, want %v", tt.name, err, tt.want)
		}
		jobs[i] = signer.Job{ID: tt.id, Msg: tt.msg, Sig: tt.sig}
	}
	for i, err := range signer.VerifyAll(jobs) {
		if !errors.Is(err, tests[i].want) {
			t.Errorf("VerifyAll[%s] = %v, want %v", tests[i].name, err, tests[i].want)
		}
	}
}
