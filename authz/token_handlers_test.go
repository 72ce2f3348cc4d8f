package authz

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
)

// recordingHandler is a token endpoint handler that records which of its
// methods ran.
type recordingHandler struct {
	canHandle bool
	calls     *[]string
}

func (h recordingHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	*h.calls = append(*h.calls, "populate")
	return nil
}

func (h recordingHandler) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	*h.calls = append(*h.calls, "handle")
	return nil
}

func (h recordingHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h recordingHandler) CanHandleTokenEndpointRequest(context.Context, fosite.AccessRequester) bool {
	return h.canHandle
}

func TestPassingHandler(t *testing.T) {
	for _, tt := range []struct {
		name           string
		canHandle      bool
		openID         bool
		declinesHandle bool
		granted        []string
		wantCalls      []string // of handle, then populate
	}{
		{"handles the request", true, false, false, []string{"projects:read"}, []string{"handle", "populate"}},
		{"cannot handle the request", false, false, false, []string{"projects:read"}, []string{"handle"}},
		{"OpenID Connect, openid granted", true, true, false, []string{"openid"}, []string{"handle", "populate"}},
		{"OpenID Connect, openid not granted", true, true, false, []string{"projects:read"}, nil},
		{"OpenID Connect code handler", true, true, true, []string{"openid"}, []string{"populate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			h := passingHandler{
				TokenEndpointHandler: recordingHandler{canHandle: tt.canHandle, calls: &calls},
				openID:               tt.openID, declinesHandle: tt.declinesHandle,
			}
			req := fosite.NewAccessRequest(nil)
			for _, s := range tt.granted {
				req.GrantScope(s)
			}
			var declined []string
			if err := h.HandleTokenEndpointRequest(t.Context(), req); err != nil {
				if !errors.Is(err, fosite.ErrUnknownRequest) {
					t.Fatalf("handle: %v", err)
				}
				declined = append(declined, "handle")
			}
			if err := h.PopulateTokenEndpointResponse(t.Context(), req, fosite.NewAccessResponse()); err != nil {
				if !errors.Is(err, fosite.ErrUnknownRequest) {
					t.Fatalf("populate: %v", err)
				}
				declined = append(declined, "populate")
			}
			if len(calls) != len(tt.wantCalls) {
				t.Fatalf("the handler ran %v, want %v", calls, tt.wantCalls)
			}
			for i := range calls {
				if calls[i] != tt.wantCalls[i] {
					t.Fatalf("the handler ran %v, want %v", calls, tt.wantCalls)
				}
			}
			if len(calls)+len(declined) != 2 {
				t.Errorf("ran %v and declined %v: each method must do one or the other", calls, declined)
			}
		})
	}

	wrapped := withPassingHandlers(fosite.TokenEndpointHandlers{
		&oauth2.RefreshTokenGrantHandler{}, &openid.OpenIDConnectExplicitHandler{}, &openid.OpenIDConnectRefreshHandler{},
	})
	want := []passingHandler{{}, {openID: true, declinesHandle: true}, {openID: true}}
	for i, h := range wrapped {
		p, ok := h.(passingHandler)
		if !ok || p.openID != want[i].openID || p.declinesHandle != want[i].declinesHandle {
			t.Errorf("handler %d wrapped as %#v", i, h)
		}
	}
}
