// Package errpage describes a failed browser request the way the error page
// shows it: a class of problem with a title in plain words, a message for the
// person at the browser, the app's name when it is known, and a developer
// detail (an OAuth error code and one sentence) kept apart from the rest. The
// authorization endpoint builds a Problem and the browser surface renders it;
// neither imports the other, both import this package.
package errpage

import "net/http"

// Class is the kind of problem, chosen for the person at the browser.
type Class string

// The classes of problem an authorization request can meet before the app's
// redirect URI is verified, and the general ones.
const (
	// UnknownApp: the client_id names no registered app.
	UnknownApp Class = "unknown_app"
	// RedirectNotRegistered: the app exists but the redirect_uri is not one
	// it registered, so the browser cannot be sent back.
	RedirectNotRegistered Class = "redirect_uri_not_registered"
	// Malformed: the request is missing a parameter or has one that is not valid.
	Malformed Class = "request_malformed"
	// Expired: the sign-in, the consent screen or its form is no longer valid.
	Expired Class = "expired"
	// Unavailable: the service cannot answer for now; trying again may work.
	Unavailable Class = "unavailable"
	// Internal: something failed on the server.
	Internal Class = "internal"
	// Other: any other problem, described by its title and message alone.
	Other Class = ""
)

// Problem is what the error page shows.
type Problem struct {
	// Status is the HTTP status of the page; 400 when zero.
	Status int
	Class  Class
	// Title is the page's heading, in plain words; the class's title when empty.
	Title string
	// Message tells the person what happened and what they can do.
	Message string
	// AppName is the name of the app that sent the person here, when known.
	AppName string
	// Code is the OAuth error code (e.g. invalid_client), shown to developers.
	Code string
	// Detail is one sentence for the app's developer: our own words or
	// fosite's hint, never fosite's generic descriptions.
	Detail string
}

// StatusCode returns p.Status, or 400 when it is zero.
func (p Problem) StatusCode() int {
	if p.Status == 0 {
		return http.StatusBadRequest
	}
	return p.Status
}

// Heading returns p.Title, or the title of p's class when it is empty.
func (p Problem) Heading() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Class.Title()
}

// Title is the class's page heading in plain words.
func (c Class) Title() string {
	switch c {
	case UnknownApp:
		return "We don't recognise this app"
	case RedirectNotRegistered:
		return "This app wants to send you back to an address it has not registered"
	case Malformed:
		return "This sign-in link is not complete"
	case Expired:
		return "Your sign-in has expired"
	case Unavailable:
		return "Nextoria Hub is temporarily unavailable"
	case Internal:
		return "Something went wrong"
	default:
		return "Something went wrong"
	}
}

// Message is the class's default message for people.
func (c Class) Message() string {
	switch c {
	case UnknownApp:
		return "The app that sent you here is not registered with Nextoria Hub, so you cannot sign in to it. Close this page and contact the app's support."
	case RedirectNotRegistered:
		return "For your safety we did not send you back, because the app asked to return you to an address it has not registered. Close this page and contact the app's support."
	case Malformed:
		return "The app that sent you here made a request we cannot accept. Close this page, return to the app and try again; if it happens again, contact the app's support."
	case Expired:
		return "For your security, this page is only valid for a short time. Return to the app and start again."
	case Unavailable:
		return "We cannot complete this request right now. Please try again in a few minutes."
	default:
		return "We could not complete your request. Please try again in a moment."
	}
}

// Text returns p.Message, or the message of p's class when it is empty.
func (p Problem) Text() string {
	if p.Message != "" {
		return p.Message
	}
	return p.Class.Message()
}
