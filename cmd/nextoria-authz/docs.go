package main

import (
	"github.com/nextoria/authz/authz"
	"github.com/nextoria/authz/devdocs"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/web"
)

// endpointLimits are the limits of the OAuth endpoints that cfg sets.
func endpointLimits(l LimitsConfig) authz.EndpointLimits {
	return authz.EndpointLimits{
		Token:         ratelimit.Limit{Rate: l.TokenPerMinute, Burst: l.TokenBurst},
		Introspection: ratelimit.Limit{Rate: l.IntrospectionPerMinute, Burst: l.IntrospectionBurst},
		Revocation:    ratelimit.Limit{Rate: l.RevocationPerMinute, Burst: l.RevocationBurst},
	}
}

// docsConfig is what the developer docs pages show of cfg: the values the
// running server applies, and the error codes of its OAuth endpoints.
func docsConfig(cfg Config) web.DocsConfig {
	limits := endpointLimits(cfg.Limits)
	errs := make([]devdocs.ErrorCode, len(authz.TokenErrors))
	for i, e := range authz.TokenErrors {
		errs[i] = devdocs.ErrorCode(e)
	}
	return web.DocsConfig{
		AccessTokenLifespan:       cfg.OAuth.AccessTokenLifespan,
		AuthorizationCodeLifespan: cfg.OAuth.AuthorizationCodeLifespan,
		RefreshTokenLifespan:      cfg.OAuth.RefreshTokenLifespan,
		RefreshTokenIdleTimeout:   cfg.OAuth.RefreshTokenIdleTimeout,
		RefreshGracePeriod:        cfg.OAuth.RefreshGracePeriod,
		TokenLimit:                limits.Token,
		IntrospectionLimit:        limits.Introspection,
		RevocationLimit:           limits.Revocation,
		OAuthErrors:               errs,
	}
}
