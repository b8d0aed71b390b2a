package enforce

import (
	"sync"
)

// fileKey is what tells one content of a file from another without
// reading it: the inode and what changes when it is written.
type fileKey struct {
	dev, ino   uint64
	ctime      int64 // ns
	mtime      int64 // ns
	size       int64
	generation uint64 // of the policies and the store when decided
}

type cached struct {
	cid       string
	decisions []Decision
}

// verdictCache maps a file's identity and content to the decisions made
// on it. Entries of an older generation (policies applied or removed, new
// records or revocations stored since) are misses. It holds at most max
// entries and is emptied when full.
type verdictCache struct {
	mu  sync.Mutex
	m   map[fileKey]cached
	max int
}

func newVerdictCache(max int) *verdictCache {
	return &verdictCache{m: map[fileKey]cached{}, max: max}
}

func (c *verdictCache) get(k fileKey) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *verdictCache) put(k fileKey, v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
}
