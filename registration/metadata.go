package registration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

// Error codes of RFC 7591 §3.2.2 and RFC 6750 §3.1.
const (
	CodeInvalidRedirectURI    = "invalid_redirect_uri"
	CodeInvalidClientMetadata = "invalid_client_metadata"
	CodeInvalidToken          = "invalid_token"
)

// Token endpoint authentication methods (RFC 7591 §2).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
)

// Supported grant and response types. Every app may use both grants: a
// refresh token comes with every code (see the README's token lifecycle).
var (
	supportedAuthMethods   = []string{AuthSecretBasic, AuthSecretPost, AuthNone}
	supportedGrantTypes    = []string{"authorization_code", "refresh_token"}
	supportedResponseTypes = []string{"code"}
)

// MaxBodyBytes bounds a registration request's body.
const MaxBodyBytes = 64 << 10

// MaxRedirectURIs is how many redirect URIs a client may register, as in
// the settings pages (apps.MaxRedirectURIs).
const MaxRedirectURIs = apps.MaxRedirectURIs

// Metadata is the client metadata of RFC 7591 §2 that this server
// supports, with the OpenID Connect fields of Dynamic Client Registration
// 1.0 §2 and RP-Initiated Logout 1.0 §3.1. Unknown fields of a request are
// ignored (§2).
type Metadata struct {
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	// PostLogoutRedirectURIs are where the end-session endpoint may send
	// the browser after a sign-out the client asked for; checked like
	// redirect_uris.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens:
	// RS256 (the default) or ES256.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`

	// Only in RFC 7592 update requests: the client_id (which must match)
	// and, optionally, the current client_secret (which must be right).
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// Error is a registration error of RFC 7591 §3.2.2: Code is
// CodeInvalidRedirectURI or CodeInvalidClientMetadata, answered with 400.
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string { return "registration: " + e.Code + ": " + e.Description }

func metadataError(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidClientMetadata, Description: fmt.Sprintf(format, args...)}
}

// ParseMetadata decodes a request body: one JSON object in valid UTF-8,
// without duplicate member names at any depth (two names for one field
// would let two parsers disagree about what was registered), nothing after
// it. Unknown members are ignored. The error is an *Error.
func ParseMetadata(body []byte) (Metadata, error) {
	if !utf8.Valid(body) {
		return Metadata{}, metadataError("The request body is not valid UTF-8.")
	}
	if err := checkDuplicateKeys(body); err != nil {
		return Metadata{}, metadataError("The request body is not a valid JSON object: %s.", err)
	}
	var m Metadata
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Metadata{}, metadataError("The field %s has the wrong type.", typeErr.Field)
		}
		return Metadata{}, metadataError("The request body is not a valid JSON object.")
	}
	return m, nil
}

// checkDuplicateKeys walks the JSON text and reports the first object with a
// member name given twice, or a syntax error, or text after the value.
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("malformed JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("it must be an object")
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the object")
	}
	return nil
}

// maxDepth bounds the nesting of ignored members.
const maxDepth = 32

func walkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("malformed JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("the member %q is given twice", key)
		}
		seen[key] = true
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return errors.New("malformed JSON")
	}
	return nil
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("malformed JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxDepth {
		return errors.New("nested too deeply")
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("malformed JSON")
		}
	}
	return nil
}

// normalize fills the defaults of RFC 7591 §2 and checks what package apps
// does not: the authentication method, grant and response types, and the
// scope string. It returns the scopes.
func (m *Metadata) normalize() ([]string, error) {
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthSecretBasic
	}
	if !slices.Contains(supportedAuthMethods, m.TokenEndpointAuthMethod) {
		return nil, metadataError("token_endpoint_auth_method %q is not supported; use one of %s.",
			m.TokenEndpointAuthMethod, strings.Join(supportedAuthMethods, ", "))
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range m.GrantTypes {
		if !slices.Contains(supportedGrantTypes, g) {
			return nil, metadataError("grant_types: %q is not supported; use %s.", g, strings.Join(supportedGrantTypes, " and "))
		}
	}
	if !slices.Contains(m.GrantTypes, "authorization_code") {
		return nil, metadataError("grant_types must include authorization_code, the grant of the response type code.")
	}
	if len(m.ResponseTypes) == 0 {
		m.ResponseTypes = []string{"code"}
	}
	for _, r := range m.ResponseTypes {
		if !slices.Contains(supportedResponseTypes, r) {
			return nil, metadataError("response_types: %q is not supported; use code.", r)
		}
	}
	// Every app may refresh: a refresh token comes with every code. The
	// answer says so (RFC 7591 §3.2.1 lets the server replace values).
	m.GrantTypes = slices.Clone(supportedGrantTypes)
	m.ResponseTypes = slices.Clone(supportedResponseTypes)
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = storage.IDTokenRS256
	}
	if msg := apps.CheckIDTokenAlg(m.IDTokenSignedResponseAlg); msg != "" {
		return nil, metadataError("id_token_signed_response_alg: %s.", msg)
	}
	if strings.TrimSpace(m.Scope) == "" {
		m.Scope = strings.Join(consent.Names(), " ")
	}
	if len(m.RedirectURIs) > MaxRedirectURIs {
		return nil, &Error{Code: CodeInvalidRedirectURI, Description: fmt.Sprintf("At most %d redirect URIs are allowed.", MaxRedirectURIs)}
	}
	if len(m.PostLogoutRedirectURIs) > MaxRedirectURIs {
		return nil, &Error{Code: CodeInvalidRedirectURI, Description: fmt.Sprintf("At most %d post-logout redirect URIs are allowed.", MaxRedirectURIs)}
	}
	return strings.Fields(m.Scope), nil
}

// fieldNames maps the fields of package apps to the metadata names.
var fieldNames = map[string]string{
	apps.FieldName:        "client_name",
	apps.FieldScopes:      "scope",
	apps.FieldLogo:        "logo_uri",
	apps.FieldHomepageURL: "client_uri",
	apps.FieldPrivacyURL:  "policy_uri",
	apps.FieldIDTokenAlg:  "id_token_signed_response_alg",
}

// fromFieldErrors turns the problems package apps found into one RFC 7591
// error: invalid_redirect_uri when the redirect URIs are wrong, otherwise
// invalid_client_metadata naming the first field in a stable order.
func fromFieldErrors(fe apps.FieldErrors) *Error {
	if msg, ok := fe[apps.FieldRedirectURIs]; ok {
		return &Error{Code: CodeInvalidRedirectURI, Description: "redirect_uris: " + msg}
	}
	if msg, ok := fe[apps.FieldPostLogoutRedirectURIs]; ok {
		return &Error{Code: CodeInvalidRedirectURI, Description: "post_logout_redirect_uris: " + msg}
	}
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := fieldNames[k]
		if name == "" {
			name = k
		}
		parts = append(parts, name+": "+fe[k])
	}
	return metadataError("%s", strings.Join(parts, "; "))
}
