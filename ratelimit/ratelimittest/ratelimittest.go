// Package ratelimittest gives tests a Redis client and a key prefix of their
// own, so that tests sharing one Redis never see each other's buckets.
//
// The server is the one at NEXTORIA_TEST_REDIS_URL, by default
// redis://127.0.0.1:6379/0. Tests fail, rather than skip, when it is
// unreachable: scripts/test.sh starts it.
package ratelimittest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable holding the Redis URL.
const EnvURL = "NEXTORIA_TEST_REDIS_URL"

// DefaultURL is the Redis URL used when EnvURL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the test Redis URL.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// NewClient returns a client of the test Redis, closed when t finishes.
func NewClient(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("ratelimittest: %s: %v", EnvURL, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ratelimittest: Redis is unreachable at %s (start it, or point %s at one): %v", opts.Addr, EnvURL, err)
	}
	return c
}

// NewPrefix returns a key prefix unique to this test and deletes every key
// containing it when t finishes (redis_rate adds its own "rate:" in front).
func NewPrefix(t testing.TB) string {
	t.Helper()
	prefix := "nextoria-test:" + strings.ToLower(rand.Text()[:12]) + ":"
	c := NewClient(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, "*"+prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("ratelimittest: scan keys of %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("ratelimittest: delete keys of %s: %v", prefix, err)
			}
		}
	})
	return prefix
}
