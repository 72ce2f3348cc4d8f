package resource

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(i int) [32]byte { return sha256.Sum256(fmt.Append(nil, i)) }
	c := newCache(3)
	for i := range 3 {
		c.put(key(i), introspection{active: true, principal: Principal{WorkspaceID: fmt.Sprint(i)}}, now.Add(time.Minute))
	}
	if _, ok := c.get(key(0), now); !ok { // 0 becomes the most recently used
		t.Fatal("entry 0 missing")
	}
	c.put(key(3), introspection{}, now.Add(time.Minute)) // evicts 1, the least recently used
	if _, ok := c.get(key(1), now); ok {
		t.Error("least recently used entry kept past the size bound")
	}
	for _, i := range []int{0, 2, 3} {
		if _, ok := c.get(key(i), now); !ok {
			t.Errorf("entry %d evicted", i)
		}
	}
	if n := c.len(); n != 3 {
		t.Errorf("len = %d, want 3", n)
	}
	// Expiry is exclusive and removes the entry.
	if _, ok := c.get(key(0), now.Add(time.Minute)); ok {
		t.Error("entry used at its expiry time")
	}
	if n := c.len(); n != 2 {
		t.Errorf("len after expiry = %d, want 2", n)
	}
	// Replacing keeps one entry.
	c.put(key(2), introspection{active: true, principal: Principal{WorkspaceID: "new"}}, now.Add(time.Hour))
	if v, ok := c.get(key(2), now.Add(30*time.Minute)); !ok || v.principal.WorkspaceID != "new" || c.len() != 2 {
		t.Errorf("replaced entry = %+v, %t (len %d)", v, ok, c.len())
	}
}
