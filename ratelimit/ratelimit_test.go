package ratelimit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/nextoria/authz/ratelimit"
)

func TestPlans(t *testing.T) {
	t.Parallel()
	want := map[string]ratelimit.Limit{
		"starter": {Rate: 60, Burst: 100},
		"growth":  {Rate: 300, Burst: 500},
		"scale":   {Rate: 1000, Burst: 2000},
	}
	for plan, l := range want {
		if got := ratelimit.ForPlan(plan); got != l {
			t.Errorf("ForPlan(%q) = %+v, want %+v", plan, got, l)
		}
	}
	if len(ratelimit.Plans()) != len(want) {
		t.Errorf("Plans = %v, want exactly the documented three", ratelimit.Plans())
	}
	for _, plan := range []string{"", "enterprise", "Starter"} {
		if got := ratelimit.ForPlan(plan); got != want["starter"] {
			t.Errorf("ForPlan(%q) = %+v, want the starter limit", plan, got)
		}
	}
}

func TestWriteHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    ratelimit.Result
		want map[string]string // "" means absent
	}{
		{"allowed", ratelimit.Result{Allowed: true, Limit: 100, Remaining: 99, ResetAfter: time.Second},
			map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "99", "RateLimit-Reset": "1", "Retry-After": ""}},
		{"reset rounds up", ratelimit.Result{Allowed: true, Limit: 500, Remaining: 3, ResetAfter: 1500 * time.Millisecond},
			map[string]string{"RateLimit-Reset": "2", "Retry-After": ""}},
		{"full bucket", ratelimit.Result{Allowed: true, Limit: 100, Remaining: 100},
			map[string]string{"RateLimit-Remaining": "100", "RateLimit-Reset": "0"}},
		{"refused", ratelimit.Result{Allowed: false, Limit: 100, RetryAfter: 200 * time.Millisecond, ResetAfter: 100 * time.Second},
			map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "100", "Retry-After": "1"}},
		{"refused, retry rounds up", ratelimit.Result{Allowed: false, Limit: 2000, RetryAfter: 2001 * time.Millisecond, ResetAfter: 3 * time.Second},
			map[string]string{"Retry-After": "3"}},
		{"refused, no wait known", ratelimit.Result{Allowed: false, Limit: 100},
			map[string]string{"Retry-After": "1", "RateLimit-Reset": "0"}},
		{"negative values", ratelimit.Result{Allowed: true, Limit: 100, Remaining: -1, ResetAfter: -time.Second},
			map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			ratelimit.WriteHeaders(h, tt.r)
			for k, v := range tt.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
