package metrics

import (
	"net/http"
	"strings"
	"time"
)

// Middleware counts and times every request next answers, by the route
// pattern that served it (see Routed), its normalised method and its status
// code. Put it outermost, so that answers given before routing (a refused
// cross-origin form, a proxy check) are counted too, as handler "other".
// On a nil *Metrics it returns next unchanged.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := routeKey{handler: HandlerLabel(rec.pattern), method: MethodLabel(r.Method)}
		m.http.observer(route).Observe(time.Since(start).Seconds())
		m.http.counter(requestKey{routeKey: route, code: rec.status}).Inc()
	})
}

// Routed wraps the ServeMux mux so that the route pattern it matched reaches
// Middleware, however many handlers lie between them: ServeMux sets
// r.Pattern on the request it is given, which the handlers in between may
// have copied (r.WithContext), so the pattern travels back on the
// ResponseWriter instead. On a nil *Metrics it returns mux unchanged.
func (m *Metrics) Routed(mux http.Handler) http.Handler {
	if m == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern == "" {
			return
		}
		for rw := w; rw != nil; {
			if rec, ok := rw.(*recorder); ok {
				rec.pattern = r.Pattern
				return
			}
			u, ok := rw.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				return
			}
			rw = u.Unwrap()
		}
	})
}

// HandlerLabel is the handler label of a route pattern: the pattern without
// its method ("POST /v1/oauth/token" → "/v1/oauth/token"), or Other for a
// request no pattern matched. Patterns come from the route table, never
// from the request, so the set is bounded.
func HandlerLabel(pattern string) string {
	if pattern == "" {
		return Other
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if pattern == "" {
		return Other
	}
	return pattern
}

// MethodLabel is the method label of a request method: the standard methods
// as they are, anything else Other, so that a client cannot mint series.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return Other
}

// recorder remembers the status code and the route pattern of a request.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	pattern     string
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
