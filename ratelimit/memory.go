package ratelimit

import (
	"context"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the buckets a Memory limiter keeps when
// MemoryOptions.MaxKeys is 0.
const DefaultMaxKeys = 100_000

// MemoryOptions tune a Memory limiter.
type MemoryOptions struct {
	// MaxKeys bounds the number of buckets kept (DefaultMaxKeys when 0).
	MaxKeys int
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

// Memory is a Limiter that keeps its buckets in this process: for a single
// instance, development, or as FailSafe's fallback. Each instance counts
// alone, so N instances together allow N times the plan's limit; use Redis
// to share the count.
//
// Memory stays within MaxKeys buckets. A full bucket is the same as no
// bucket, so those are dropped first; when every kept bucket is in use,
// arbitrary ones are dropped, which gives those workspaces a fresh burst
// early: an overloaded limiter errs towards allowing.
type Memory struct {
	maxKeys int
	now     func() time.Time

	mu  sync.Mutex
	tat map[string]time.Time // key → theoretical arrival time (GCRA)
}

// NewMemory returns an empty in-process limiter.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Memory{maxKeys: opts.MaxKeys, now: opts.Now, tat: make(map[string]time.Time)}
}

// Allow implements Limiter; it never fails.
func (m *Memory) Allow(_ context.Context, key, plan string) (Result, error) {
	return m.AllowLimit(key, ForPlan(plan)), nil
}

// AllowLimit decides one request against an explicit limit rather than a
// plan's, for limits that are not the API plans (e.g. the authorization
// server's own endpoints). l.Rate must be positive.
func (m *Memory) AllowLimit(key string, l Limit) Result {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tat[key]
	res, newTAT := gcra(l, tat, now)
	if !ok && res.Allowed {
		m.makeRoom(now)
	}
	m.tat[key] = newTAT
	return res
}

// makeRoom drops buckets until one more fits: first the full ones (their tat
// has passed), then, if that freed too little, arbitrary ones down to 90% of
// the bound, so that the sweep is not repeated on every new key.
func (m *Memory) makeRoom(now time.Time) {
	if len(m.tat) < m.maxKeys {
		return
	}
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
	target := m.maxKeys * 9 / 10
	if target >= m.maxKeys {
		target = m.maxKeys - 1
	}
	for k := range m.tat {
		if len(m.tat) <= target {
			break
		}
		delete(m.tat, k)
	}
}

// Len returns the number of buckets kept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tat)
}
