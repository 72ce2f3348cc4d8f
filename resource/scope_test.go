package resource

import (
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"projects:read", []string{"projects:read"}},
		{"projects:read tasks:read", []string{"projects:read", "tasks:read"}},
		{"  projects:read   tasks:read ", []string{"projects:read", "tasks:read"}},
		{"projects:read projects:read", []string{"projects:read"}},
		{"tasks:read\tprojects:read", nil}, // a tab is not a separator, and no scope holds one
		{`projects:read "quoted" back\slash`, []string{"projects:read"}},
		{"projects:read é", []string{"projects:read"}},
		{"projects:read \xff", []string{"projects:read"}},
		{"a!#$%&'()*+,-./:;<=>?@[]^_`{|}~", []string{"a!#$%&'()*+,-./:;<=>?@[]^_`{|}~"}},
	}
	for _, tt := range tests {
		if got := parseScope(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("parseScope(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "projects:read tasks:read", "  a  a b", "a\tb", "\"x\" y\\z", "é \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseScope(s)
		fields := strings.Split(s, " ")
		seen := map[string]bool{}
		for _, sc := range got {
			if !validScope(sc) || seen[sc] || !slices.Contains(fields, sc) {
				t.Fatalf("parseScope(%q) = %q: %q is invalid, repeated or not in the input", s, got, sc)
			}
			seen[sc] = true
		}
		// Every valid field is kept.
		for _, f := range fields {
			if validScope(f) && !seen[f] {
				t.Fatalf("parseScope(%q) = %q dropped %q", s, got, f)
			}
		}
		// Joining and parsing again is stable.
		if again := parseScope(strings.Join(got, " ")); !slices.Equal(again, got) {
			t.Fatalf("parseScope is not stable: %q then %q", got, again)
		}
	})
}
