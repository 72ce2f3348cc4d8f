package ratelimit_test

import (
	"strconv"
	"testing"

	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/ratelimit/ratelimittest"
)

// BenchmarkMemoryAllow is the in-process rate-limit decision, spread over
// 1,000 workspaces.
func BenchmarkMemoryAllow(b *testing.B) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "ws-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = m.Allow(b.Context(), keys[i%len(keys)], "scale")
			i++
		}
	})
}

// BenchmarkRedisAllow is the shared decision: one round trip to the local Redis.
func BenchmarkRedisAllow(b *testing.B) {
	l := ratelimit.NewRedis(ratelimittest.NewClient(b), ratelimittest.NewPrefix(b))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Allow(b.Context(), "ws-"+strconv.Itoa(i%1000), "scale"); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
