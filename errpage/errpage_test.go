package errpage_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nextoria/authz/errpage"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	classes := []errpage.Class{
		errpage.UnknownApp, errpage.RedirectNotRegistered, errpage.Malformed,
		errpage.Expired, errpage.Unavailable, errpage.Internal, errpage.Other,
	}
	titles := map[string]errpage.Class{}
	for _, c := range classes {
		p := errpage.Problem{Class: c}
		if p.Heading() == "" || p.Text() == "" {
			t.Errorf("class %q: empty heading or text", c)
		}
		if strings.Contains(p.Text(), "e.g.") || strings.Contains(p.Text(), "OAuth") {
			t.Errorf("class %q: message %q is not written for people", c, p.Text())
		}
		if prev, dup := titles[p.Heading()]; dup && c != errpage.Other && c != errpage.Internal {
			t.Errorf("classes %q and %q share the title %q", prev, c, p.Heading())
		}
		titles[p.Heading()] = c
	}
	if got := (errpage.Problem{}).StatusCode(); got != http.StatusBadRequest {
		t.Errorf("zero status = %d, want 400", got)
	}
	p := errpage.Problem{Status: 503, Class: errpage.Unavailable, Title: "Custom", Message: "Msg"}
	if p.StatusCode() != 503 || p.Heading() != "Custom" || p.Text() != "Msg" {
		t.Errorf("explicit fields not kept: %+v", p)
	}
}
