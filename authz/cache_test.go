package authz

import (
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	t.Parallel()
	c := newTTLCache[string, int](50*time.Millisecond, 2)
	c.put("a", 1)
	if v, ok := c.get("a"); !ok || v != 1 {
		t.Fatalf("get a = %v, %v", v, ok)
	}
	if _, ok := c.get("b"); ok {
		t.Fatal("missing key found")
	}
	c.put("b", 2)
	c.put("c", 3) // over the bound: the cache is cleared, then c stored
	if len(c.entries) > 2 {
		t.Fatalf("cache grew to %d entries", len(c.entries))
	}
	if v, ok := c.get("c"); !ok || v != 3 {
		t.Fatal("newest entry lost")
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok := c.get("c"); ok {
		t.Fatal("expired entry returned")
	}
}
