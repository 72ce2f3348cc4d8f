// Package reqid owns the request id: one short random reference per HTTP
// request, carried in its context, sent back in the X-Request-Id header,
// attached to every log record of the request and shown on error pages, so a
// person who reports a problem can quote the id that finds its log lines.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// Header is the request and response header that carries the id.
const Header = "X-Request-Id"

// maxLen bounds an incoming id accepted from a trusted proxy.
const maxLen = 64

type ctxKey struct{}

// New returns a fresh id: 16 random bytes in lower-case hex.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// WithID returns a copy of ctx that carries id.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request id carried by ctx, or "" when there is none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Valid reports whether id is a sane incoming request id: 1 to 64 characters
// from [A-Za-z0-9._-]. Anything else could forge log lines or page content.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Middleware gives every request an id, puts it in the request's context and
// sets it on the response header before next runs. An incoming X-Request-Id
// is kept only when trustIncoming is set (a trusted proxy in front assigns
// it) and the value is Valid; otherwise a new id is generated, so a client
// cannot choose the reference its requests are logged under.
func Middleware(trustIncoming bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if trustIncoming {
			if in := r.Header.Get(Header); Valid(in) {
				id = in
			}
		}
		if id == "" {
			id = New()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(WithID(r.Context(), id)))
	})
}

// Handler wraps a slog.Handler so that every record logged with a context
// carrying a request id gets a request_id attribute.
type Handler struct {
	inner slog.Handler
}

// NewHandler returns inner wrapped to add request_id from the context.
func NewHandler(inner slog.Handler) *Handler {
	return &Handler{inner: inner}
}

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds request_id when ctx carries one, then passes r on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := FromContext(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs returns a Handler over the wrapped handler with attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs)}
}

// WithGroup returns a Handler over the wrapped handler with the group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}
