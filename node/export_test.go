package node

import "time"

// Test hooks of the outbox: options no daemon sets.

// withOutboxBatch sets how many due entries are taken per round (default
// 64).
func withOutboxBatch(n int) OutboxOption {
	return func(o *Outbox) { o.batch = n }
}

// withOutboxClock replaces time.Now.
func withOutboxClock(now func() time.Time) OutboxOption {
	return func(o *Outbox) { o.now = now }
}

// withOutboxTimer replaces the timer Run sleeps on, for tests that drive
// the clock themselves.
func withOutboxTimer(f func(time.Duration) (<-chan time.Time, func() bool)) OutboxOption {
	return func(o *Outbox) { o.newTimer = f }
}
