package reqid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nextoria/authz/reqid"
)

func TestValid(t *testing.T) {
	t.Parallel()
	long := string(bytes.Repeat([]byte("a"), 65))
	tests := []struct {
		id   string
		want bool
	}{
		{"abc-123_X.y", true},
		{"0123456789abcdef0123456789abcdef", true},
		{"", false},
		{long, false},
		{"has space", false},
		{"line\nbreak", false},
		{"<script>", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := reqid.Valid(tt.id); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	a, b := reqid.New(), reqid.New()
	if len(a) != 32 || !reqid.Valid(a) {
		t.Errorf("New() = %q, want 32 hex characters", a)
	}
	if a == b {
		t.Errorf("New() returned %q twice", a)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		trust    bool
		incoming string
		keep     bool
	}{
		{"untrusted incoming is replaced", false, "client-chosen-id", false},
		{"trusted sane incoming is kept", true, "proxy-id-42", true},
		{"trusted malformed incoming is replaced", true, "bad id\r\nx", false},
		{"no incoming", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := reqid.Middleware(tt.trust, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = reqid.FromContext(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.incoming != "" {
				req.Header.Set(reqid.Header, tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(reqid.Header)
			if got != seen || !reqid.Valid(got) {
				t.Fatalf("header %q, context %q: want the same valid id", got, seen)
			}
			if (got == tt.incoming) != tt.keep {
				t.Errorf("id = %q with incoming %q: keep = %v, want %v", got, tt.incoming, got == tt.incoming, tt.keep)
			}
		})
	}
}

func TestHandlerAddsRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(reqid.NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx := reqid.WithID(context.Background(), "req-1")
	log.InfoContext(ctx, "with id")
	log.InfoContext(context.Background(), "without id")
	dec := json.NewDecoder(&buf)
	var first, second map[string]any
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if first["request_id"] != "req-1" || first["component"] != "test" {
		t.Errorf("first record = %v, want request_id req-1 and component test", first)
	}
	if _, ok := second["request_id"]; ok {
		t.Errorf("second record = %v, want no request_id", second)
	}
}
