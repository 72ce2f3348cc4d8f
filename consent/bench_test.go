package consent_test

import (
	"testing"

	"github.com/nextoria/authz/consent"
)

// ParseScope, Covers and NeedsPrompt run on every authorization request.

func BenchmarkParseScope(b *testing.B) {
	tests := []struct{ name, scope string }{
		{"two scopes", "projects:read tasks:read"},
		{"whole catalogue", "projects:read projects:write tasks:read tasks:write clients:read clients:write invoices:read invoices:write files:read analytics:read"},
		{"duplicates and blanks", "projects:read  projects:read tasks:read "},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				consent.ParseScope(tt.scope)
			}
		})
	}
}

func BenchmarkCovers(b *testing.B) {
	granted := consent.Names()
	requested := []string{"projects:read", "tasks:read", "analytics:read"}
	for b.Loop() {
		if !consent.Covers(granted, requested) {
			b.Fatal("the catalogue must cover its own scopes")
		}
	}
}

func BenchmarkNeedsPrompt(b *testing.B) {
	remembered := []string{"projects:read", "tasks:read"}
	tests := []struct {
		name       string
		remembered []string
		requested  []string
		prompt     string
		want       bool
	}{
		{"remembered", remembered, []string{"projects:read", "tasks:read"}, "", false},
		{"first time", nil, []string{"projects:read"}, "", true},
		{"wider request", remembered, []string{"projects:read", "invoices:write"}, "", true},
		{"prompt=consent", remembered, []string{"projects:read"}, "consent", true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if consent.NeedsPrompt(tt.remembered, tt.requested, tt.prompt) != tt.want {
					b.Fatal("unexpected decision")
				}
			}
		})
	}
}
