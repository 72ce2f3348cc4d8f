package storage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
)

// binarySession is a session with a binary encoding of its own (format
// version 0x01 followed by JSON), standing in for the server's session type.
type binarySession struct {
	fosite.DefaultSession
}

func (s *binarySession) MarshalBinary() ([]byte, error) {
	data, err := json.Marshal(&s.DefaultSession)
	return append([]byte{0x01}, data...), err
}

func (s *binarySession) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != 0x01 {
		return errors.New("not a binary session")
	}
	return json.Unmarshal(data[1:], &s.DefaultSession)
}

// A session type with a binary encoding is stored in it, and read back
// through it; one without is stored as JSON.
func TestSessionDataBinaryAndJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()

	bin := f.newRequest(t)
	bin.Session = &binarySession{DefaultSession: *newSession(f.user.ID)}
	if err := f.st.CreateAccessTokenSession(ctx, "binary-token", bin); err != nil {
		t.Fatalf("CreateAccessTokenSession: %v", err)
	}
	plain := f.newRequest(t)
	if err := f.st.CreateAccessTokenSession(ctx, "json-token", plain); err != nil {
		t.Fatalf("CreateAccessTokenSession: %v", err)
	}
	var first []byte
	if err := f.st.Pool().QueryRow(ctx,
		`SELECT substr(session_data, 1, 1) FROM oauth_access_tokens WHERE request_id = $1`, bin.GetID()).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, []byte{0x01}) {
		t.Errorf("binary session stored starting with %q, want its format version", first)
	}
	if err := f.st.Pool().QueryRow(ctx,
		`SELECT substr(session_data, 1, 1) FROM oauth_access_tokens WHERE request_id = $1`, plain.GetID()).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if string(first) != "{" {
		t.Errorf("session without a binary encoding stored starting with %q, want JSON", first)
	}

	got := &binarySession{}
	if _, err := f.st.GetAccessTokenSession(ctx, "binary-token", got); err != nil {
		t.Fatalf("GetAccessTokenSession: %v", err)
	}
	if got.Subject != f.user.ID || !got.GetExpiresAt(fosite.AccessToken).Equal(bin.Session.GetExpiresAt(fosite.AccessToken)) {
		t.Errorf("binary round trip: got %+v", got.DefaultSession)
	}
	// A session type without a binary encoding cannot read a binary row.
	if _, err := f.st.GetAccessTokenSession(ctx, "binary-token", &fosite.DefaultSession{}); err == nil {
		t.Error("a binary row decoded into a session without a binary encoding")
	}
}

// Rows written as JSON before the binary format (migration 014 keeps their
// text) are read by session types with and without a binary encoding.
func TestSessionDataOldJSONRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct{ table, sig string }{
		{"oauth_access_tokens", "old-access"},
		{"oauth_refresh_tokens", "old-refresh"},
		{"oauth_codes", "old-code"},
		{"oauth_pkce", "old-pkce"},
		{"oauth_oidc_sessions", "old-oidc"},
	} {
		// The key is the hex SHA-256 of the signature (hashSignature).
		if _, err := f.st.Pool().Exec(ctx,
			`INSERT INTO `+tc.table+` (signature, request_id, requested_at, client_id, subject, scopes, granted_scopes,
			     requested_audience, granted_audience, form_data, session_data, expires_at)
			 VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'old-req', now(), $2, $3, '{read}', '{read}', '{}', '{}',
			     'redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback',
			     convert_to(json_build_object('subject', $3::text, 'username', 'ada',
			         'expires_at', json_build_object('access_token', $4::timestamptz, 'refresh_token', $4::timestamptz,
			             'authorize_code', $4::timestamptz), 'extra', json_build_object('k', 'ü'))::text, 'UTF8'),
			     $4)`,
			tc.sig, f.app.ClientID, f.user.ID, exp); err != nil {
			t.Fatalf("%s: insert: %v", tc.table, err)
		}
	}
	get := map[string]func(sig string, s fosite.Session) (fosite.Requester, error){
		"old-access": func(sig string, s fosite.Session) (fosite.Requester, error) {
			return f.st.GetAccessTokenSession(ctx, sig, s)
		},
		"old-refresh": func(sig string, s fosite.Session) (fosite.Requester, error) {
			return f.st.GetRefreshTokenSession(ctx, sig, s)
		},
		"old-code": func(sig string, s fosite.Session) (fosite.Requester, error) {
			return f.st.GetAuthorizeCodeSession(ctx, sig, s)
		},
		"old-pkce": func(sig string, s fosite.Session) (fosite.Requester, error) {
			return f.st.GetPKCERequestSession(ctx, sig, s)
		},
		"old-oidc": func(sig string, s fosite.Session) (fosite.Requester, error) {
			return f.st.GetOpenIDConnectSession(ctx, sig, &fosite.Request{Session: s})
		},
	}
	for sig, fn := range get {
		for _, sess := range []interface {
			fosite.Session
			extra() map[string]any
		}{&plainSession{}, &binaryExtraSession{}} {
			r, err := fn(sig, sess)
			if err != nil {
				t.Fatalf("%s into %T: %v", sig, sess, err)
			}
			if r.GetID() != "old-req" || sess.GetSubject() != f.user.ID || sess.GetUsername() != "ada" {
				t.Errorf("%s into %T: request %q, subject %q, username %q", sig, sess, r.GetID(), sess.GetSubject(), sess.GetUsername())
			}
			if got := sess.GetExpiresAt(fosite.RefreshToken); !got.Equal(exp) {
				t.Errorf("%s into %T: refresh expiry %v, want %v", sig, sess, got, exp)
			}
			if got := sess.extra()["k"]; got != "ü" {
				t.Errorf("%s into %T: extra claim %v", sig, sess, got)
			}
		}
	}
}

type plainSession struct{ fosite.DefaultSession }

func (s *plainSession) extra() map[string]any { return s.Extra }

type binaryExtraSession struct{ binarySession }

func (s *binaryExtraSession) extra() map[string]any { return s.Extra }
