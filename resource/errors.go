package resource

import (
	"encoding/json"
	"net/http"
)

// Error codes of the documented error envelope, one per HTTP status.
const (
	CodeBadRequest    = "BAD_REQUEST"    // 400: invalid request parameters
	CodeUnauthorized  = "UNAUTHORIZED"   // 401: missing or invalid API key or token
	CodeForbidden     = "FORBIDDEN"      // 403: valid credentials, insufficient scope
	CodeNotFound      = "NOT_FOUND"      // 404: the resource does not exist
	CodeUnprocessable = "UNPROCESSABLE"  // 422: validation errors
	CodeRateLimited   = "RATE_LIMITED"   // 429: too many requests
	CodeInternalError = "INTERNAL_ERROR" // 500: server error
	// CodeServiceUnavailable (503, with Retry-After): the authorization
	// server could not be reached or could not answer, so the credentials
	// were neither accepted nor rejected. Retry later with the same ones.
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
)

// ErrorCode is one code of the error envelope with its HTTP status and what
// it tells the caller.
type ErrorCode struct {
	Status  int
	Code    string
	Meaning string
}

// Codes lists every code of the error envelope, by status, as the developer
// documentation shows them.
var Codes = []ErrorCode{
	{http.StatusBadRequest, CodeBadRequest, "Invalid request parameters, or a malformed Authorization header."},
	{http.StatusUnauthorized, CodeUnauthorized, "Missing or invalid API key or access token: absent, expired, revoked or unknown."},
	{http.StatusForbidden, CodeForbidden, "Valid key or token, but without the scope the route requires."},
	{http.StatusNotFound, CodeNotFound, "The resource does not exist."},
	{http.StatusUnprocessableEntity, CodeUnprocessable, "Validation errors in the request body."},
	{http.StatusTooManyRequests, CodeRateLimited, "Too many requests for the workspace's plan; retry after Retry-After seconds."},
	{http.StatusInternalServerError, CodeInternalError, "Server error (report to support)."},
	{http.StatusServiceUnavailable, CodeServiceUnavailable, "The authorization server is temporarily unavailable; retry after Retry-After seconds with the same credentials."},
}

// envelope is the documented error body:
//
//	{"error": {"code": "NOT_FOUND", "message": "…", "status": 404}}
type envelope struct {
	Error envelopeError `json:"error"`
}

type envelopeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// WriteError answers with status and the documented error envelope. message
// is shown to API clients: it must never carry internal details. Errors are
// not cached by clients or proxies.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // JSON with nosniff is never rendered as HTML
	_ = enc.Encode(envelope{Error: envelopeError{Code: code, Message: message, Status: status}})
}
