package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// CookieName is the name of the session cookie on a plain-HTTP development
// host (Config.SecureCookies off).
const CookieName = "nx_session"

// SecureCookieName is the name of the session cookie under TLS (an https
// issuer, with Secure cookies). Browsers accept a __Host- cookie only from a
// secure origin with Secure, Path=/ and no Domain, so a sibling subdomain or
// a plain-HTTP page cannot set or shadow it. A plain-HTTP development host
// keeps CookieName: browsers refuse the prefix there.
const SecureCookieName = "__Host-" + CookieName

// sessionCookieName is the session cookie's name for an issuer scheme and
// the Secure setting.
func sessionCookieName(issuerScheme string, secure bool) string {
	if secure && issuerScheme == "https" {
		return SecureCookieName
	}
	return CookieName
}

// cookieName is the session cookie's name under this server's settings.
func (s *Server) cookieName() string {
	return sessionCookieName(s.issuerScheme, s.cookies.Options.Secure)
}

// Session cookie values. Both are strings, so gob needs no registration.
const (
	keySID  = "sid"  // login-session id; the database keeps only its SHA-256
	keyCSRF = "csrf" // seed of the anti-forgery tokens
)

// newCookieStore sets every cookie option explicitly: gorilla's defaults are
// SameSite=None, no HttpOnly and 30 days. SameSite is Lax, not Strict, because
// the authorization request arrives as a cross-site top-level navigation and
// must carry the login cookie. MaxAge goes through CookieStore.MaxAge so the
// codecs' timestamp check agrees with the cookie.
func newCookieStore(keys secret.Keys, secure bool, lifetime time.Duration) *sessions.CookieStore {
	cs := sessions.NewCookieStore(keys.CookieHash, keys.CookieBlock)
	cs.Options.Path = "/"
	cs.Options.Domain = ""
	cs.Options.HttpOnly = true
	cs.Options.Secure = secure
	cs.Options.SameSite = http.SameSiteLaxMode
	cs.Options.Partitioned = false
	cs.MaxAge(int(lifetime / time.Second))
	for _, c := range cs.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(sessionSerializer{})
		}
	}
	return cs
}

// session returns the request's session, decoded once per request inside
// Middleware. A cookie that is missing, expired or fails to decode yields an
// empty session: the browser is treated as signed out.
func (s *Server) session(r *http.Request) *sessions.Session {
	st := stateOf(r)
	if st == nil {
		return s.decodeSession(r)
	}
	if st.sess == nil {
		st.sess = s.decodeSession(r)
	}
	return st.sess
}

func (s *Server) decodeSession(r *http.Request) *sessions.Session {
	sess, err := s.cookies.New(r, s.cookieName())
	if err != nil {
		s.log.DebugContext(r.Context(), "session cookie rejected", "error", err)
		sess = sessions.NewSession(s.cookies, s.cookieName())
		opts := *s.cookies.Options
		sess.Options = &opts
		sess.IsNew = true
	}
	return sess
}

func (s *Server) saveSession(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
	if err := s.cookies.Save(r, w, sess); err != nil {
		return fmt.Errorf("web: save session cookie: %w", err)
	}
	return nil
}

func stringValue(sess *sessions.Session, key string) string {
	v, _ := sess.Values[key].(string)
	return v
}

// LoadPrincipal returns the signed-in user of r: the login-session id from
// the session cookie, looked up by its SHA-256. A missing or undecodable
// cookie and an unknown or expired session report (false, nil), signed out;
// a failed lookup reports (false, err) — errors.Is(err,
// storage.ErrUnavailable) during an outage — so the caller can answer 503
// instead of asking a signed-in user to sign in again.
func (s *Server) LoadPrincipal(r *http.Request) (storage.Principal, bool, error) {
	sid := stringValue(s.session(r), keySID)
	if sid == "" {
		return storage.Principal{}, false, nil
	}
	p, err := s.store.GetPrincipal(r.Context(), secret.SHA256([]byte(sid)))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Principal{}, false, nil
	} else if err != nil {
		return storage.Principal{}, false, err
	}
	return p, true, nil
}

// signIn starts a login session for userID under a new id, so that an id
// planted before sign-in is worthless afterwards (session fixation), and
// rotates the CSRF seed with it. A previous login session of this browser is
// ended.
//
// The new login session, the signin.succeeded event of the user's workspace
// and the throttle's settlement are written in one transaction (one round
// trip): the account's counts start again (keys.accountIP, keys.account).
// The address's are not cleared, or an attacker with one account of their
// own could clear them at will; only this successful attempt is taken back
// (keys.ip), so that many people signing in from one address (an office
// behind NAT) never lock it.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, userID, workspaceID string, keys throttleKeys) error {
	ctx := r.Context()
	sess := s.session(r)
	if old := stringValue(sess, keySID); old != "" {
		if err := s.store.DeleteLoginSession(ctx, secret.SHA256([]byte(old))); err != nil {
			s.log.WarnContext(ctx, "end previous login session", "error", err)
		}
	}
	sid := secret.Token()
	err := s.audit.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		ev := storage.AuditEvent{
			WorkspaceID: workspaceID, ActorKind: storage.ActorUser, ActorID: userID,
			Action: storage.AuditSignInSucceeded, TargetKind: storage.TargetUser, TargetID: userID,
		}
		if err := s.store.CreateLoginSession(ctx, secret.SHA256([]byte(sid)), userID, time.Now().Add(s.lifetime)); err != nil {
			return ev, err
		}
		return ev, s.store.SettleSignIn(ctx, keys.ip, keys.accountIP, keys.account)
	})
	if err != nil {
		return fmt.Errorf("web: create login session: %w", err)
	}
	sess.Values[keySID] = sid
	sess.Values[keyCSRF] = secret.Token()
	return s.saveSession(w, r, sess)
}

// signOut ends the browser's login session and rotates the CSRF seed. The
// cookie is cleared even when the database delete fails.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess := s.session(r)
	if sid := stringValue(sess, keySID); sid != "" {
		if err := s.endLoginSession(ctx, secret.SHA256([]byte(sid))); err != nil {
			s.log.ErrorContext(ctx, "delete login session", "error", err)
		}
	}
	delete(sess.Values, keySID)
	sess.Values[keyCSRF] = secret.Token()
	return s.saveSession(w, r, sess)
}

// CSRFToken returns the anti-forgery token for a form bound to binding (for
// example "login", "logout" or a consent challenge id):
// base64url(HMAC-SHA-256(Keys.CSRF, seed || 0x00 || binding)), where the seed
// is a random value kept in the session cookie.
//
// When the cookie has no seed yet (a first visit, signed out), CSRFToken
// creates one and sets the cookie on the response Middleware recorded, so it
// must be called before the response is written. Outside Middleware it can
// only use an existing seed and returns "" otherwise.
func (s *Server) CSRFToken(r *http.Request, binding string) string {
	sess := s.session(r)
	seed := stringValue(sess, keyCSRF)
	if seed == "" {
		st := stateOf(r)
		if st == nil {
			s.log.ErrorContext(r.Context(), "csrf token requested outside web middleware")
			return ""
		}
		if st.written.Load() {
			s.log.ErrorContext(r.Context(), "csrf seed created after the response started; the form will be rejected")
		}
		seed = secret.Token()
		sess.Values[keyCSRF] = seed
		if err := s.saveSession(st.w, r, sess); err != nil {
			s.log.ErrorContext(r.Context(), "set session cookie", "error", err)
			return ""
		}
	}
	return s.csrfMAC(seed, binding)
}

// VerifyCSRF reports whether token is the CSRFToken for binding under the
// seed in r's session cookie, comparing in constant time. An empty token or a
// session without a seed never verifies.
func (s *Server) VerifyCSRF(r *http.Request, binding, token string) bool {
	if token == "" {
		return false
	}
	seed := stringValue(s.session(r), keyCSRF)
	if seed == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(s.csrfMAC(seed, binding)))
}

// csrfMAC separates seed and binding with a zero byte; the seed is base64url
// and never contains one, so no two (seed, binding) pairs share an input.
func (s *Server) csrfMAC(seed, binding string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(seed))
	m.Write([]byte{0})
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
