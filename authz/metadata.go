package authz

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/registration"
)

// metadataDoc is the RFC 8414 authorization server metadata, which is also
// the OpenID Connect Discovery 1.0 provider metadata: both documents name
// the same endpoints and capabilities, and RFC 8414 §2 takes the OpenID
// Connect fields over as they are.
type metadataDoc struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserInfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	IntrospectionAuthMethods          []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	RevocationAuthMethods             []string `json:"revocation_endpoint_auth_methods_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	ClaimTypesSupported               []string `json:"claim_types_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RegistrationEndpoint              string   `json:"registration_endpoint"`
}

// claimsSupported are the claims of the ID token and the UserInfo response.
var claimsSupported = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
	"name", "email", "email_verified",
}

func (s *Server) metadataDocument() metadataDoc {
	iss := s.cfg.Issuer
	return metadataDoc{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + AuthorizePath,
		TokenEndpoint:                     iss + TokenPath,
		UserInfoEndpoint:                  iss + UserInfoPath,
		JWKSURI:                           iss + JWKSPath,
		EndSessionEndpoint:                iss + EndSessionPath,
		ScopesSupported:                   consent.Names(),
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		AuthorizationResponseISSSupported: true,
		IntrospectionEndpoint:             iss + IntrospectPath,
		IntrospectionAuthMethods:          []string{"client_secret_basic"},
		RevocationEndpoint:                iss + RevokePath,
		RevocationAuthMethods:             []string{"client_secret_basic", "client_secret_post", "none"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{RSAKeyAlg, KeyAlg},
		ClaimsSupported:                   claimsSupported,
		ClaimTypesSupported:               []string{"normal"},
		PromptValuesSupported:             promptValues,
		RequestParameterSupported:         false,
		RequestURIParameterSupported:      false,
		ClaimsParameterSupported:          false,
		RegistrationEndpoint:              iss + registration.Path,
	}
}

// metadata serves GET /.well-known/oauth-authorization-server (RFC 8414)
// and GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0):
// one document, cacheable for an hour, readable from any origin.
func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(s.metadataDocument())
}

// jwksCacheControl is the JWKS document's Cache-Control: JWKSMaxAge, which
// KeyPublishAhead outlasts.
var jwksCacheControl = "public, max-age=" + strconv.Itoa(int(JWKSMaxAge/time.Second))

// jwks serves the public signing keys, pending ones included: a new key is
// published KeyPublishAhead before it signs, longer than verifiers may cache
// this document, so none of them meets an unknown kid.
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", jwksCacheControl)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.keys.JWKS())
}
