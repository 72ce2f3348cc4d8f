package authz

import (
	"fmt"
	"net/http"

	"github.com/nextoria/authz/ratelimit"
)

// EndpointLimits protect the OAuth endpoints from a runaway or abusive
// client. They count per authenticated client (per resource server for
// introspection) and per instance. A zero Rate means no limit.
type EndpointLimits struct {
	Token         ratelimit.Limit
	Introspection ratelimit.Limit
	Revocation    ratelimit.Limit
}

// allow counts one request of key against l and, when it is refused,
// answers 429 with Retry-After in RFC 6749 form and counts the refusal for
// endpoint (a metrics.Endpoint* name). It reports whether the request may
// go on.
func (s *Server) allow(w http.ResponseWriter, endpoint string, l ratelimit.Limit, key string) bool {
	if l.Rate <= 0 {
		return true
	}
	res := s.limiter.AllowLimit(key, l)
	if res.Allowed {
		return true
	}
	s.cfg.Metrics.RateLimited(endpoint)
	ratelimit.WriteHeaders(w.Header(), res)
	writeOAuthError(w, http.StatusTooManyRequests, "temporarily_unavailable",
		fmt.Sprintf("Too many requests from this client; retry after %s seconds.", w.Header().Get("Retry-After")))
	return false
}
