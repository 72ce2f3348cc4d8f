package storage

import (
	"errors"
	"time"
)

// Sentinel errors. Check them with errors.Is; the fosite methods return
// fosite's own sentinels instead (fosite.ErrNotFound and friends).
var (
	// ErrNotFound means the row does not exist (or has expired).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict means a unique value (e-mail, client_id, kid) is taken.
	ErrConflict = errors.New("storage: already exists")
	// ErrUnavailable means the database could not answer: it refused or
	// dropped the connection, did not answer in time, is shutting down or
	// has no connection slot left. Nothing is known about the row; the
	// request may succeed when retried later. Callers answer 503.
	ErrUnavailable = errors.New("storage: database unavailable")
)

// Plans a workspace can be on.
const (
	PlanStarter = "starter"
	PlanGrowth  = "growth"
	PlanScale   = "scale"
)

// Roles of a user in their workspace.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Workspace is a customer account; plans set the API rate limits.
type Workspace struct {
	ID        string
	Name      string
	Plan      string
	CreatedAt time.Time
}

// User is a person who signs in. Every user belongs to exactly one workspace.
type User struct {
	ID           string
	Email        string
	PasswordHash string // argon2id, PHC format
	WorkspaceID  string
	Role         string
	CreatedAt    time.Time
	// Name is the display name apps granted the profile scope see.
	Name string
	// EmailVerified says whether the e-mail address is known to be the user's.
	EmailVerified bool
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email        string
	PasswordHash string
	WorkspaceID  string
	Role         string // RoleMember when empty
	// Name is the display name; the part of Email before the @ when empty.
	Name          string
	EmailVerified bool
}

// Principal is a signed-in user together with their workspace, as loaded for
// a browser request from its login session.
type Principal struct {
	UserID         string
	Email          string
	Role           string
	WorkspaceID    string
	WorkspaceName  string
	Plan           string
	LoginSessionID []byte // SHA-256 of the cookie's session id
	SignedInAt     time.Time
	Name           string
	EmailVerified  bool
}

// App is a registered OAuth application (an OAuth client).
type App struct {
	ID                     string
	ClientID               string
	SecretHash             []byte // nil for public clients
	RotatedSecretHash      []byte // previous secret, valid until RotatedSecretExpiresAt
	RotatedSecretExpiresAt time.Time
	Name                   string
	RedirectURIs           []string
	Scopes                 []string
	Public                 bool
	WorkspaceID            string
	// OwnerID is the user who registered the app; "" for an app registered
	// by API without a user behind it (see RegistrationToken).
	OwnerID    string
	HasLogo    bool
	LogoSHA256 string // hex; changes when the logo changes (cache busting)
	// HomepageURL, PrivacyURL and Description are the app's public profile,
	// shown on the consent screen; empty when not given.
	HomepageURL string
	PrivacyURL  string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time

	// PKCEOptional lets a confidential app omit PKCE (RFC 9700 §2.1.1
	// wants it from every client). Public apps always need PKCE.
	PKCEOptional bool
	// IDTokenAlg is the JWS algorithm of the app's ID tokens: IDTokenRS256
	// (the default) or IDTokenES256.
	IDTokenAlg string
	// PostLogoutRedirectURIs are where the end-session endpoint may send the
	// browser after signing the user out (exact match); empty for none.
	PostLogoutRedirectURIs []string
}

// ID token signing algorithms an app may choose.
const (
	IDTokenRS256 = "RS256"
	IDTokenES256 = "ES256"
)

// Logo is an app's logo image, already validated and re-encoded.
type Logo struct {
	ContentType string
	Data        []byte
}

// NewApp is the input of CreateApp.
type NewApp struct {
	ClientID     string
	SecretHash   []byte // nil when Public
	Name         string
	RedirectURIs []string
	Scopes       []string
	Public       bool
	// PKCEOptional lets a confidential app omit PKCE; new apps require it.
	PKCEOptional bool
	// IDTokenAlg is IDTokenRS256 when empty.
	IDTokenAlg  string
	WorkspaceID string
	OwnerID     string
	Logo        *Logo // optional
	HomepageURL string
	PrivacyURL  string
	Description string
	// PostLogoutRedirectURIs are optional; nil for none.
	PostLogoutRedirectURIs []string
}

// ConsentChallenge is an authorization request waiting for the user's
// decision. It is single use and bound to one login session.
type ConsentChallenge struct {
	IDHash         []byte // SHA-256 of the id carried by the consent form
	LoginSessionID []byte
	ClientID       string
	RequestQuery   string // the original /oauth/authorize query string
	Scopes         []string
	ExpiresAt      time.Time
}

// Grant is remembered consent: the user allowed these scopes to this app.
type Grant struct {
	UserID     string
	ClientID   string
	Scopes     []string
	GrantedAt  time.Time
	LastUsedAt time.Time
}

// SigningKey is an asymmetric key that signs access tokens.
type SigningKey struct {
	KID        string
	Alg        string // "ES256" or "RS256"
	PrivateEnc []byte // sealed private key (secret.Seal, additional data = KID)
	PublicJWK  []byte // JSON of the public JWK, with kid, alg and use
	CreatedAt  time.Time
	// ActivatesAt is when the key starts signing; until then it is only
	// published, so that verifiers have it before they meet its kid.
	ActivatesAt time.Time
	// RetiredAt is when a newer key took or takes over (it may lie in the
	// future while that key is pending); zero while no newer key exists.
	RetiredAt time.Time
}

// APIKey is a workspace's credential for server-to-server calls to the REST
// API. The key itself is never stored: the row holds its keyed hash (see
// NewAPIKey.KeyHash) and a display id that is safe to show.
type APIKey struct {
	ID          string
	WorkspaceID string
	CreatedBy   string // user id; "" when created from the CLI or the user is gone
	Name        string
	Scopes      []string
	DisplayID   string // e.g. "nxh_ukmov5Ui": the prefix and the first random characters
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never expires
	RevokedAt   time.Time // zero: not revoked
	LastUsedAt  time.Time // zero: never used
}

// APIKeyWithPlan is an API key together with its workspace's plan, as looked
// up for every API request (the plan sets the rate limit).
type APIKeyWithPlan struct {
	APIKey
	Plan string
}

// NewAPIKey is the input of CreateAPIKey.
type NewAPIKey struct {
	WorkspaceID string
	CreatedBy   string // "" for none
	Name        string
	Scopes      []string
	KeyHash     []byte // HMAC-SHA-256 of the key under secret.Keys.SecretHash
	DisplayID   string
	ExpiresAt   time.Time // zero: never expires
}
