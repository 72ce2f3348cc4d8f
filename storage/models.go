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
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email        string
	PasswordHash string
	WorkspaceID  string
	Role         string // RoleMember when empty
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
	OwnerID                string
	HasLogo                bool
	LogoSHA256             string // hex; changes when the logo changes (cache busting)
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

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
	WorkspaceID  string
	OwnerID      string
	Logo         *Logo // optional
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
	Alg        string // "ES256"
	PrivateEnc []byte // sealed private key (secret.Seal, additional data = KID)
	PublicJWK  []byte // JSON of the public JWK, with kid, alg and use
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while the key is the active one
}
