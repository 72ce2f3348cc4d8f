package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/storage"
)

// Path is the registration endpoint; a client's configuration endpoint
// (RFC 7592) is Path + "/" + client_id.
const Path = "/v1/oauth/register"

// DefaultLimit is the registration rate per initial access token (per client
// address under open registration) when Config.Limit is zero.
var DefaultLimit = ratelimit.Limit{Rate: 60, Burst: 20}

// unavailableRetryAfter is the Retry-After of a 503 while the database is
// unavailable, as at the other endpoints.
const unavailableRetryAfter = 5 * time.Second

// Config configures the endpoints.
type Config struct {
	// Issuer is the server's public URL.
	Issuer  string
	Tokens  Tokens
	Clients Clients
	// OpenWorkspace, when set, turns open registration on: a request
	// without Authorization registers into this workspace. Off when "".
	OpenWorkspace string
	// Limit bounds registrations per initial access token, in this process;
	// DefaultLimit when zero.
	Limit ratelimit.Limit
	// TrustProxyHeaders makes open registration count the client address of
	// X-Forwarded-For's last entry instead of the connection's.
	TrustProxyHeaders bool
	Logger            *slog.Logger
}

// Handler serves the registration endpoints.
type Handler struct {
	cfg     Config
	limiter *ratelimit.Memory
	log     *slog.Logger
	// logos replaces cfg.Clients.Logos when set (UseLogoFetcher).
	logos atomic.Pointer[LogoFetcher]
}

// UseLogoFetcher makes the endpoints fetch logo_uri with f from now on: a
// test lets its loopback TLS server be reached this way.
func (h *Handler) UseLogoFetcher(f *LogoFetcher) { h.logos.Store(f) }

// clients is cfg.Clients with the logo fetcher in force.
func (h *Handler) clients() Clients {
	c := h.cfg.Clients
	if f := h.logos.Load(); f != nil {
		c.Logos = f
	}
	return c
}

// NewHandler returns the endpoints of cfg.
func NewHandler(cfg Config) *Handler {
	if cfg.Limit == (ratelimit.Limit{}) {
		cfg.Limit = DefaultLimit
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), log: log}
}

// Routes registers the endpoints on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Path, h.register)
	mux.HandleFunc("GET "+Path+"/{client_id}", h.read)
	mux.HandleFunc("PUT "+Path+"/{client_id}", h.update)
	mux.HandleFunc("DELETE "+Path+"/{client_id}", h.delete)
}

// BypassCrossOriginProtection lists the endpoints that are called without
// cookies, with a bearer token, from anywhere.
func BypassCrossOriginProtection() []string {
	return []string{"POST " + Path, "GET " + Path + "/{client_id}", "PUT " + Path + "/{client_id}", "DELETE " + Path + "/{client_id}"}
}

// bearer returns the bearer token of r; present is false when there is no
// Authorization header. A header of another scheme or malformed gives
// present true and an empty token.
func bearer(r *http.Request) (token string, present bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", false
	}
	if len(vals) > 1 {
		return "", true
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" || strings.ContainsAny(tok, " \t") {
		return "", true
	}
	return tok, true
}

// writeJSON writes v with status and the headers of every answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is the error of RFC 7591 §3.2.2 and RFC 6749 §5.2.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// challenge answers 401 with the WWW-Authenticate challenge of RFC 6750 §3:
// with error="invalid_token" when a token was sent, bare otherwise.
func challenge(w http.ResponseWriter, sent bool, description string) {
	if sent {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nextoria", error="invalid_token", error_description="`+description+`"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nextoria"`)
	}
	writeJSON(w, http.StatusUnauthorized, errorBody{Error: CodeInvalidToken, Description: description})
}

// fail answers err: an *Error as 400, ErrUnauthorized as 401, an outage as
// 503 with Retry-After, anything else as 500 (logged).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *Error
	switch {
	case errors.As(err, &re):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: re.Code, Description: re.Description})
	case errors.Is(err, ErrUnauthorized):
		challenge(w, true, "The registration access token is not valid for this client.")
	case errors.Is(err, storage.ErrUnavailable):
		h.log.WarnContext(r.Context(), "database unavailable", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(unavailableRetryAfter/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "temporarily_unavailable",
			Description: "The authorization server is temporarily unavailable. Retry after the time given in Retry-After."})
	default:
		h.log.ErrorContext(r.Context(), "client registration failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "server_error", Description: "The request could not be completed. Please try again later."})
	}
}

// readMetadata reads and parses the JSON body of r.
func readMetadata(w http.ResponseWriter, r *http.Request) (Metadata, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return Metadata{}, metadataError("The request body must be JSON, sent with Content-Type: application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Metadata{}, metadataError("The request body must be at most %d KiB.", MaxBodyBytes>>10)
		}
		return Metadata{}, metadataError("The request body could not be read.")
	}
	return ParseMetadata(body)
}

// register serves POST /v1/oauth/register (RFC 7591 §3).
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	raw, sent := bearer(r)
	var owner Owner
	limitKey := ""
	switch {
	case sent:
		if raw == "" {
			challenge(w, true, "The Authorization header must be: Bearer <initial access token>.")
			return
		}
		tok, ok, err := h.cfg.Tokens.Authenticate(r.Context(), raw)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !ok {
			challenge(w, true, "The initial access token is invalid, expired or revoked.")
			return
		}
		owner = Owner{WorkspaceID: tok.WorkspaceID, UserID: tok.CreatedBy, TokenID: tok.ID}
		limitKey = "token:" + tok.ID
	case h.cfg.OpenWorkspace != "":
		owner = Owner{WorkspaceID: h.cfg.OpenWorkspace}
		limitKey = "open:" + h.clientAddr(r)
	default:
		challenge(w, false, "An initial access token is required: Authorization: Bearer <initial access token>.")
		return
	}
	if res := h.limiter.AllowLimit(limitKey, h.cfg.Limit); !res.Allowed {
		ratelimit.WriteHeaders(w.Header(), res)
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "temporarily_unavailable",
			Description: fmt.Sprintf("Too many registrations with this token; retry after %s seconds.", w.Header().Get("Retry-After"))})
		return
	}
	m, err := readMetadata(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.clients().Register(h.auditContext(r), h.cfg.Issuer, owner, m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "client registered", "client_id", c.ClientID, "workspace_id", owner.WorkspaceID,
		"registration_token_id", owner.TokenID)
	w.Header().Set("Location", c.RegistrationClientURI)
	writeJSON(w, http.StatusCreated, c)
}

// clientAddr is the address open registration counts against.
func (h *Handler) clientAddr(r *http.Request) string {
	if h.cfg.TrustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// auditContext is the context of r carrying its client address and
// User-Agent, which the audit events of the change record.
func (h *Handler) auditContext(r *http.Request) context.Context {
	ip, _ := netip.ParseAddr(h.clientAddr(r))
	return storage.WithRequestSource(r.Context(), ip.Unmap(), r.UserAgent())
}

// managed runs fn with the registration access token of the request, or
// answers the challenge when there is none.
func (h *Handler) managed(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, clientID, rat string) error) {
	rat, sent := bearer(r)
	if rat == "" {
		challenge(w, sent, "A registration access token is required: Authorization: Bearer <registration access token>.")
		return
	}
	if err := fn(h.auditContext(r), r.PathValue("client_id"), rat); err != nil {
		h.fail(w, r, err)
	}
}

// read serves GET /v1/oauth/register/{client_id} (RFC 7592 §2.1).
func (h *Handler) read(w http.ResponseWriter, r *http.Request) {
	h.managed(w, r, func(ctx context.Context, clientID, rat string) error {
		c, err := h.clients().Read(ctx, h.cfg.Issuer, clientID, rat)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

// update serves PUT /v1/oauth/register/{client_id} (RFC 7592 §2.2).
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	h.managed(w, r, func(ctx context.Context, clientID, rat string) error {
		// A wrong token gets its 401 whatever the body says.
		if _, _, err := h.clients().authorize(ctx, clientID, rat); err != nil {
			return err
		}
		m, err := readMetadata(w, r)
		if err != nil {
			return err
		}
		c, err := h.clients().Update(ctx, h.cfg.Issuer, clientID, rat, m)
		if err != nil {
			return err
		}
		h.log.InfoContext(ctx, "client registration updated", "client_id", clientID)
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

// delete serves DELETE /v1/oauth/register/{client_id} (RFC 7592 §2.3).
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	h.managed(w, r, func(ctx context.Context, clientID, rat string) error {
		if err := h.clients().Delete(ctx, clientID, rat); err != nil {
			return err
		}
		h.log.InfoContext(ctx, "client registration deleted", "client_id", clientID)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
