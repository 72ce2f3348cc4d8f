package web

import (
	"net/http"

	"github.com/nextoria/authz/storage"
)

// handleKeys holds the place of the API keys page in the settings
// navigation; keys are managed with the command-line tool for now.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request, p storage.Principal) {
	c, _ := s.chrome(w, r, p, navKeys, "")
	s.render(w, r, http.StatusOK, keysPage(c))
}
