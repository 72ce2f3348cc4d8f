package storage

import (
	"time"

	"github.com/ory/fosite"
)

// Client is an App as fosite sees it. Every app may use the authorization
// code grant (with refresh tokens) and nothing else.
//
// Client deliberately does not implement fosite.OpenIDConnectClient: fosite
// then accepts both client_secret_basic and client_secret_post, and rejects
// private_key_jwt client assertions before it looks at their JTI.
type Client struct {
	app      App
	audience []string
}

var (
	_ fosite.Client                   = (*Client)(nil)
	_ fosite.ClientWithSecretRotation = (*Client)(nil)
)

// newClient wraps a for fosite; audience is Options.Audience.
func newClient(a App, audience []string) *Client {
	return &Client{app: a, audience: audience}
}

// App returns the app behind the client.
func (c *Client) App() App { return c.app }

// GetID returns the app's client_id.
func (c *Client) GetID() string { return c.app.ClientID }

// GetHashedSecret returns the keyed hash of the current client secret (nil for
// public clients); the server's fosite.Hasher compares against it.
func (c *Client) GetHashedSecret() []byte { return c.app.SecretHash }

// GetRotatedHashes returns the previous secret's hash while it is still
// accepted, so clients can move to a new secret without downtime.
func (c *Client) GetRotatedHashes() [][]byte {
	if len(c.app.RotatedSecretHash) == 0 || !c.app.RotatedSecretExpiresAt.After(time.Now()) {
		return nil
	}
	return [][]byte{c.app.RotatedSecretHash}
}

// GetRedirectURIs returns the registered redirect URIs.
func (c *Client) GetRedirectURIs() []string { return c.app.RedirectURIs }

// GetGrantTypes allows the authorization code and refresh token grants.
func (c *Client) GetGrantTypes() fosite.Arguments {
	return fosite.Arguments{"authorization_code", "refresh_token"}
}

// GetResponseTypes allows response_type=code only.
func (c *Client) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }

// GetScopes returns the scopes the app may request.
func (c *Client) GetScopes() fosite.Arguments { return c.app.Scopes }

// IsPublic reports whether the app is a public client (no secret; PKCE required).
func (c *Client) IsPublic() bool { return c.app.Public }

// PKCERequired reports whether authorization requests must carry a PKCE
// code_challenge: always for public clients, and for confidential ones
// unless the app opted out.
func (c *Client) PKCERequired() bool { return c.app.Public || !c.app.PKCEOptional }

// GetAudience returns the audience the server grants to every client
// (Options.Audience).
func (c *Client) GetAudience() fosite.Arguments { return c.audience }
