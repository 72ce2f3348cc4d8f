package authz

import (
	"context"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// passingHandler wraps one of fosite's token endpoint handlers and answers
// fosite.ErrUnknownRequest itself for a request the handler would decline:
// fosite runs every handler on every token request, and its handlers
// decline with errorsx.WithStack(fosite.ErrUnknownRequest), which records
// the stack each time (on a refresh, three handlers decline; the stacks cost
// about 3% of the token endpoint's CPU). The checks are the ones each
// handler makes first, so the outcome is the same:
//
//   - PopulateTokenEndpointResponse: every handler declines a request it
//     cannot handle (fosite checks CanHandleTokenEndpointRequest before
//     HandleTokenEndpointRequest, but not before this).
//   - OpenID Connect handlers decline a request whose grant lacks the
//     openid scope: the refresh handler checks it in both methods; the
//     code handler finds no OpenID Connect session for such a code (one is
//     stored only when openid is granted), and its HandleTokenEndpointRequest
//     always declines.
type passingHandler struct {
	fosite.TokenEndpointHandler
	openID         bool // an OpenID Connect handler: declines grants without openid
	declinesHandle bool // its HandleTokenEndpointRequest always declines
}

// withPassingHandlers wraps each of handlers (see passingHandler).
func withPassingHandlers(handlers fosite.TokenEndpointHandlers) fosite.TokenEndpointHandlers {
	out := make(fosite.TokenEndpointHandlers, len(handlers))
	for i, h := range handlers {
		p := passingHandler{TokenEndpointHandler: h}
		switch h.(type) {
		case *openid.OpenIDConnectExplicitHandler:
			p.openID, p.declinesHandle = true, true
		case *openid.OpenIDConnectRefreshHandler:
			p.openID = true
		}
		out[i] = p
	}
	return out
}

func (h passingHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if h.declinesHandle || (h.openID && !r.GetGrantedScopes().Has("openid")) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.HandleTokenEndpointRequest(ctx, r)
}

func (h passingHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, w fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) || (h.openID && !r.GetGrantedScopes().Has("openid")) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, w)
}
