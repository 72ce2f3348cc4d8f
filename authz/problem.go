package authz

import (
	"errors"
	"slices"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/storage"
)

// authorizeProblem describes, for the error page, an authorization request
// refused before its redirect URI was verified. The class and the message
// speak to the person at the browser; the developer detail is our own
// sentence or fosite's hint, never fosite's generic description ("Client
// authentication failed (e.g., unknown client…)"), which describes a token
// request and would only confuse.
func authorizeProblem(ar fosite.AuthorizeRequester, err error) errpage.Problem {
	rfc := fosite.ErrorToRFC6749Error(err)
	p := errpage.Problem{Code: rfc.ErrorField, Detail: rfc.HintField}
	var client fosite.Client
	var clientID string
	if ar != nil {
		client = ar.GetClient()
		clientID = ar.GetRequestForm().Get("client_id")
	}
	// fosite starts every request with an empty DefaultClient: only a
	// *storage.Client is an app we know.
	c, known := client.(*storage.Client)
	if known {
		p.AppName = c.App().Name
	}
	switch {
	case !known && clientID == "":
		p.Class = errpage.Malformed
		p.Code = fosite.ErrInvalidRequest.ErrorField
		p.Detail = "The request has no client_id parameter."
	case !known || errors.Is(err, fosite.ErrInvalidClient):
		p.Class = errpage.UnknownApp
		p.Code = fosite.ErrInvalidClient.ErrorField
		p.Detail = "No app is registered with this client_id."
	case redirectNotRegistered(ar, client):
		p.Class = errpage.RedirectNotRegistered
		p.Detail = "The redirect_uri is not one of the app's registered redirect URIs; it must match one of them exactly."
	default:
		p.Class = errpage.Malformed
		if p.Detail == "" {
			p.Detail = "The authorization request was refused with error " + rfc.ErrorField + "."
		}
	}
	return p
}

// redirectNotRegistered reports whether the request names a redirect_uri
// that is not exactly one of the client's registered ones.
func redirectNotRegistered(ar fosite.AuthorizeRequester, client fosite.Client) bool {
	raw := ar.GetRequestForm().Get("redirect_uri")
	return raw != "" && !slices.Contains(client.GetRedirectURIs(), raw)
}

// malformed is the problem of a request we refuse before fosite reads it.
func malformed(detail string) errpage.Problem {
	return errpage.Problem{Class: errpage.Malformed, Code: fosite.ErrInvalidRequest.ErrorField, Detail: detail}
}
