package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/storage"
)

//go:embed static
var staticFiles embed.FS

// assets is the static directory served under /static/.
var assets = func() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	return sub
}()

// stylesheetURL carries a digest of the stylesheet, so it can be cached for a
// year and still change with each release.
var stylesheetURL = assetURL("app.css")

// copyScriptURL is the script of the copy buttons, versioned the same way.
var copyScriptURL = assetURL("copy.js")

// logoPreviewScriptURL is the script that previews a newly chosen logo on
// the app forms, versioned the same way.
var logoPreviewScriptURL = assetURL("logo-preview.js")

func assetURL(name string) string {
	b, err := fs.ReadFile(assets, name)
	if err != nil {
		panic("web: missing embedded asset " + name)
	}
	sum := sha256.Sum256(b)
	return "/static/" + name + "?v=" + hex.EncodeToString(sum[:8])
}

// staticHandler serves the embedded assets with long-lived cache headers.
// Directories and unknown names are 404s.
func staticHandler() http.Handler {
	files := http.FileServerFS(assets)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		if !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		if fi, err := fs.Stat(assets, name); err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		files.ServeHTTP(w, r)
	}))
}

// handleLogo serves an app's logo for the consent screen and the settings
// pages. Pages link to it with ?v=<sha256 of the logo> (logoURL), so a
// request carrying the current version may be cached for a year: a new logo
// gets a new URL. Any other request (no version, or an old one) must
// revalidate, by its ETag. The image gets its own locked-down policy, so that
// even a file that is not what it claims could run nothing.
func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) {
	clientID := r.PathValue("client_id")
	if !apps.ValidClientID(clientID) {
		http.NotFound(w, r)
		return
	}
	logo, err := s.store.GetAppLogo(r.Context(), clientID)
	if errors.Is(err, storage.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, storage.ErrUnavailable) {
		s.log.WarnContext(r.Context(), "load app logo", "client_id", clientID, "error", err)
		w.Header().Set("Retry-After", unavailableRetryAfter)
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "load app logo", "client_id", clientID, "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if len(logo.Data) == 0 || !strings.HasPrefix(logo.ContentType, "image/") {
		s.log.WarnContext(r.Context(), "app logo unusable", "client_id", clientID, "content_type", logo.ContentType)
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(logo.Data)
	version := hex.EncodeToString(sum[:])
	etag := `"` + version + `"`
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("ETag", etag)
	if r.URL.Query().Get("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", logo.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(logo.Data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(logo.Data)
	}
}

// etagMatches reports whether an If-None-Match header names etag (or is "*").
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
