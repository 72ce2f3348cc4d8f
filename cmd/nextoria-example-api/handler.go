package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/resource"
)

// newHandler returns the API's routes, each behind the scope it needs. The
// data is held in memory, per workspace. /healthz answers 503 once st is
// draining, so that load balancers stop sending traffic before shutdown.
func newHandler(mw *resource.Middleware, st *graceful.State) http.Handler {
	a := &api{data: newStore()}
	read, write := mw.Require("projects:read"), mw.Require("projects:write")
	mux := http.NewServeMux()
	mux.Handle("GET /v1/projects", read(http.HandlerFunc(a.listProjects)))
	mux.Handle("POST /v1/projects", write(http.HandlerFunc(a.createProject)))
	mux.Handle("GET /v1/projects/{id}", read(http.HandlerFunc(a.getProject)))
	mux.Handle("PATCH /v1/projects/{id}", write(http.HandlerFunc(a.updateProject)))
	mux.Handle("DELETE /v1/projects/{id}", write(http.HandlerFunc(a.deleteProject)))
	mux.Handle("GET /v1/tasks", mw.Require("tasks:read")(http.HandlerFunc(a.listTasks)))
	mux.Handle("GET /v1/clients", mw.Require("clients:read")(http.HandlerFunc(a.listClients)))
	// Anything else under /v1/, including other methods on the routes
	// above, is unknown: said only to an authenticated caller, so that the
	// API's shape is not advertised, and counted against its rate limit.
	mux.Handle("/v1/", mw.Require()(http.HandlerFunc(notFound)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if st.Draining() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", notFound)
	return mux
}

// api holds the handlers' dependencies.
type api struct {
	data *store
}

// notFound answers an unknown route.
func notFound(w http.ResponseWriter, r *http.Request) {
	resource.WriteError(w, http.StatusNotFound, resource.CodeNotFound,
		fmt.Sprintf("No resource at %s %s.", r.Method, r.URL.EscapedPath()))
}

// list is the shape of every collection response.
type list[T any] struct {
	Data []T `json:"data"`
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// decodeJSON reads the request's JSON object into dst. On failure it has
// answered 400 BAD_REQUEST with what is wrong, and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		resource.WriteError(w, http.StatusBadRequest, resource.CodeBadRequest, "Content-Type must be application/json.")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err = dec.Decode(dst)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data")
	}
	if err == nil {
		return true
	}
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		maxErr    *http.MaxBytesError
		msg       = "The request body must be one JSON object."
	)
	switch {
	case errors.As(err, &maxErr):
		msg = fmt.Sprintf("The request body must be at most %d KiB.", maxBody>>10)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		msg = fmt.Sprintf("Field %q must be a %s.", typeErr.Field, typeErr.Type.String())
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		msg = "The request body is not valid JSON."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		msg = fmt.Sprintf("Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	resource.WriteError(w, http.StatusBadRequest, resource.CodeBadRequest, msg)
	return false
}

// principal returns the request's principal; Require guarantees one.
func principal(r *http.Request) resource.Principal {
	p, _ := resource.PrincipalFrom(r.Context())
	return p
}
