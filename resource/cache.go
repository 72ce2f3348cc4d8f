package resource

import (
	"container/list"
	"sync"
	"time"
)

// cache keeps introspection results by SHA-256 of the token, each until its
// own expiry, and at most max of them: when full, the least recently used
// is dropped. The token itself is never kept.
type cache struct {
	max int

	mu    sync.Mutex
	order *list.List                 // most recently used first; values are *cacheEntry
	items map[[32]byte]*list.Element // token hash → element of order
}

type cacheEntry struct {
	key     [32]byte
	val     introspection
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), items: make(map[[32]byte]*list.Element)}
}

// get returns the unexpired result for key.
func (c *cache) get(key [32]byte, now time.Time) (introspection, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return introspection{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return introspection{}, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// put stores val for key until expires.
func (c *cache) put(key [32]byte, val introspection, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		e.val, e.expires = val, expires
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, val: val, expires: expires})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries kept, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
