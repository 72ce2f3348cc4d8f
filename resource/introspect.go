package resource

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// introspection is what the middleware keeps of an introspection response.
type introspection struct {
	active    bool
	principal Principal
	expires   time.Time // the token's exp; zero when it has none
}

// introspectionResponse is the authorization server's answer (RFC 7662 §2.2
// plus Nextoria's workspace_id, plan, key_id and key_name). Unknown members,
// such as aud, are ignored.
type introspectionResponse struct {
	Active      bool   `json:"active"`
	Scope       string `json:"scope"`
	ClientID    string `json:"client_id"`
	Sub         string `json:"sub"`
	Username    string `json:"username"`
	TokenType   string `json:"token_type"`
	Exp         int64  `json:"exp"`
	WorkspaceID string `json:"workspace_id"`
	Plan        string `json:"plan"`
	KeyID       string `json:"key_id"`
	KeyName     string `json:"key_name"`
}

// maxIntrospectionBody bounds the introspection response read.
const maxIntrospectionBody = 64 << 10

// errCredentialsRejected means the authorization server refused this
// resource server's own client credentials.
var errCredentialsRejected = errors.New("resource: the introspection endpoint rejected this resource server's credentials")

// DefaultUnavailableRetryAfter is the Retry-After of the 503 answered when the
// authorization server is unavailable and did not say when to retry.
const DefaultUnavailableRetryAfter = 5 * time.Second

// maxUnavailableRetryAfter caps a Retry-After passed on from the
// authorization server.
const maxUnavailableRetryAfter = 5 * time.Minute

// unavailableError means the authorization server could not be reached, did
// not answer in time, or answered 5xx: the token's state is unknown, and
// the request may succeed when retried after retryAfter.
type unavailableError struct {
	err        error
	retryAfter time.Duration
}

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// retryAfterOf reads a Retry-After in seconds, bounded; the default when
// absent or not a number of seconds.
func retryAfterOf(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n < 1 {
		return DefaultUnavailableRetryAfter
	}
	return min(time.Duration(n)*time.Second, maxUnavailableRetryAfter)
}

// introspect returns what the authorization server says of token, from the
// cache when it can; concurrent calls for the same token share one request.
// An error means the answer is unknown (network, server or contract failure).
func (m *Middleware) introspect(ctx context.Context, token string) (introspection, error) {
	key := sha256.Sum256([]byte(token))
	if m.cache != nil {
		if v, ok := m.cache.get(key, m.now()); ok {
			m.observer.CacheHit()
			return v, nil
		}
	}
	m.observer.CacheMiss()
	ch := m.flights.DoChan(string(key[:]), func() (any, error) {
		// Detached from the first caller, so that its going away does not
		// fail the others waiting for the same answer.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.timeout)
		defer cancel()
		start := time.Now()
		v, err := m.fetch(fctx, token)
		m.observer.Introspected(time.Since(start), err)
		if err == nil && m.cache != nil {
			m.cache.put(key, v, m.cacheUntil(v))
		}
		return v, err
	})
	select {
	case <-ctx.Done():
		return introspection{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return introspection{}, r.Err
		}
		return r.Val.(introspection), nil
	}
}

// cacheUntil is when a cached result stops being used: after the cache
// lifetime (the shorter negative lifetime for inactive tokens), and never
// after the token's own expiry.
func (m *Middleware) cacheUntil(v introspection) time.Time {
	now := m.now()
	if !v.active {
		return now.Add(min(m.cacheTTL, NegativeCacheTTL))
	}
	until := now.Add(m.cacheTTL)
	if !v.expires.IsZero() && v.expires.Before(until) {
		until = v.expires
	}
	return until
}

// fetch asks the introspection endpoint about token.
func (m *Middleware) fetch(ctx context.Context, token string) (introspection, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.introspectionURL, strings.NewReader(form.Encode()))
	if err != nil {
		return introspection{}, fmt.Errorf("resource: introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the client id and secret are form-encoded before
	// they are put in the Basic credentials.
	req.SetBasicAuth(url.QueryEscape(m.clientID), url.QueryEscape(m.clientSecret))
	resp, err := m.client.Do(req)
	if err != nil {
		// Refused, reset, timed out: the server is not there to ask.
		return introspection{}, &unavailableError{
			err:        fmt.Errorf("resource: introspection request: %w", err),
			retryAfter: DefaultUnavailableRetryAfter,
		}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody+1))
	if err != nil {
		return introspection{}, fmt.Errorf("resource: read introspection response: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return introspection{}, fmt.Errorf("%w (status %d)", errCredentialsRejected, resp.StatusCode)
	case resp.StatusCode >= 500:
		return introspection{}, &unavailableError{
			err:        fmt.Errorf("resource: introspection endpoint answered status %d", resp.StatusCode),
			retryAfter: retryAfterOf(resp.Header),
		}
	case resp.StatusCode != http.StatusOK:
		return introspection{}, fmt.Errorf("resource: introspection endpoint answered status %d", resp.StatusCode)
	case len(body) > maxIntrospectionBody:
		return introspection{}, errors.New("resource: introspection response too large")
	}
	var r introspectionResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return introspection{}, fmt.Errorf("resource: decode introspection response: %w", err)
	}
	return m.interpret(r)
}

// interpret turns a response into a result. Only access tokens (type
// Bearer) and API keys are credentials for an API: any other active token,
// such as a refresh token sent as a bearer token, is inactive here, and so
// is a token already past its exp whatever the server said. An active token
// without a workspace breaks the authorization server's contract, so it is
// an error rather than a guess.
func (m *Middleware) interpret(r introspectionResponse) (introspection, error) {
	if !r.Active {
		return introspection{}, nil
	}
	switch {
	case strings.EqualFold(r.TokenType, TokenTypeBearer):
		r.TokenType = TokenTypeBearer
	case r.TokenType == TokenTypeAPIKey:
	default:
		return introspection{}, nil
	}
	if r.WorkspaceID == "" {
		return introspection{}, errors.New("resource: introspection response of an active token has no workspace_id")
	}
	v := introspection{
		active: true,
		principal: Principal{
			Subject:     r.Sub,
			Username:    r.Username,
			ClientID:    r.ClientID,
			WorkspaceID: r.WorkspaceID,
			Plan:        r.Plan,
			Scopes:      parseScope(r.Scope),
			TokenType:   r.TokenType,
			KeyID:       r.KeyID,
			KeyName:     r.KeyName,
		},
	}
	if r.Exp != 0 {
		v.expires = time.Unix(r.Exp, 0)
		if !m.now().Before(v.expires) {
			return introspection{}, nil
		}
	}
	return v, nil
}
