package authz

import (
	"sync"
	"time"
)

// ttlCache is a small bounded map whose entries expire. It keeps reads of
// rarely changing rows (resource-server credentials, workspace plans) off
// the introspection hot path. It never caches token state.
type ttlCache[K comparable, V any] struct {
	ttl time.Duration
	max int

	mu      sync.RWMutex
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, maxEntries int) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: maxEntries, entries: make(map[K]ttlEntry[V])}
}

func (c *ttlCache[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *ttlCache[K, V]) put(k K, v V) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for key, e := range c.entries { // drop expired entries, else everything
			if now.After(e.expires) {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[k] = ttlEntry[V]{value: v, expires: now.Add(c.ttl)}
}
