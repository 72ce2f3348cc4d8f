package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nextoria/authz/resource"
)

// Limits of a project's fields, in characters.
const (
	maxProjectName        = 200
	maxProjectDescription = 2000
)

// project is a project as the API shows it.
type project struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// task and client are the sibling resources, read-only here.
type task struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Completed bool   `json:"completed"`
}

type client struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// store holds each workspace's data in memory. Every workspace starts with
// the same sample tasks and clients, and no projects.
type store struct {
	mu       sync.Mutex
	projects map[string]map[string]project // workspace id → project id → project
}

func newStore() *store { return &store{projects: map[string]map[string]project{}} }

// newProjectID returns an id like proj_3k9x2m7q1c5z.
func newProjectID() string { return "proj_" + strings.ToLower(rand.Text()[:12]) }

// projectIDPattern matches ids that are safe to repeat in a message.
var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// projectNotFound answers 404 in the documented words.
func projectNotFound(w http.ResponseWriter, id string) {
	msg := "Project was not found."
	if projectIDPattern.MatchString(id) {
		msg = fmt.Sprintf("Project with ID %s was not found.", id)
	}
	resource.WriteError(w, http.StatusNotFound, resource.CodeNotFound, msg)
}

// checkProject validates name and description (already trimmed), returning
// the problems in one sentence each.
func checkProject(name, description *string) []string {
	var problems []string
	if name != nil {
		switch n := utf8.RuneCountInString(*name); {
		case !utf8.ValidString(*name) || strings.ContainsFunc(*name, unicode.IsControl):
			problems = append(problems, "name must be text without control characters.")
		case n == 0:
			problems = append(problems, "name is required.")
		case n > maxProjectName:
			problems = append(problems, fmt.Sprintf("name must be at most %d characters.", maxProjectName))
		}
	}
	if description != nil {
		if !utf8.ValidString(*description) {
			problems = append(problems, "description must be valid text.")
		} else if utf8.RuneCountInString(*description) > maxProjectDescription {
			problems = append(problems, fmt.Sprintf("description must be at most %d characters.", maxProjectDescription))
		}
	}
	return problems
}

// unprocessable answers 422 with the validation problems.
func unprocessable(w http.ResponseWriter, problems []string) {
	resource.WriteError(w, http.StatusUnprocessableEntity, resource.CodeUnprocessable,
		"Validation failed: "+strings.Join(problems, " "))
}

func (a *api) listProjects(w http.ResponseWriter, r *http.Request) {
	ws := principal(r).WorkspaceID
	a.data.mu.Lock()
	out := make([]project, 0, len(a.data.projects[ws]))
	for _, p := range a.data.projects[ws] {
		out = append(out, p)
	}
	a.data.mu.Unlock()
	slices.SortFunc(out, func(x, y project) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	writeJSON(w, http.StatusOK, list[project]{Data: out})
}

// projectInput is the body of POST and PATCH; absent fields are nil.
type projectInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// trim trims the given fields in place.
func (in *projectInput) trim() {
	for _, f := range []*string{in.Name, in.Description} {
		if f != nil {
			*f = strings.TrimSpace(*f)
		}
	}
}

func (a *api) createProject(w http.ResponseWriter, r *http.Request) {
	var in projectInput
	if !decodeJSON(w, r, &in) {
		return
	}
	in.trim()
	if in.Name == nil {
		in.Name = new(string)
	}
	if problems := checkProject(in.Name, in.Description); len(problems) > 0 {
		unprocessable(w, problems)
		return
	}
	now := time.Now().UTC()
	p := project{ID: newProjectID(), Name: *in.Name, CreatedAt: now, UpdatedAt: now}
	if in.Description != nil {
		p.Description = *in.Description
	}
	ws := principal(r).WorkspaceID
	a.data.mu.Lock()
	if a.data.projects[ws] == nil {
		a.data.projects[ws] = map[string]project{}
	}
	a.data.projects[ws][p.ID] = p
	a.data.mu.Unlock()
	w.Header().Set("Location", "/v1/projects/"+p.ID)
	writeJSON(w, http.StatusCreated, p)
}

func (a *api) getProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.data.mu.Lock()
	p, ok := a.data.projects[principal(r).WorkspaceID][id]
	a.data.mu.Unlock()
	if !ok {
		projectNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *api) updateProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ws := principal(r).WorkspaceID
	a.data.mu.Lock()
	_, ok := a.data.projects[ws][id]
	a.data.mu.Unlock()
	if !ok {
		projectNotFound(w, id)
		return
	}
	var in projectInput
	if !decodeJSON(w, r, &in) {
		return
	}
	in.trim()
	if problems := checkProject(in.Name, in.Description); len(problems) > 0 {
		unprocessable(w, problems)
		return
	}
	a.data.mu.Lock()
	p, ok := a.data.projects[ws][id] // it may have been deleted meanwhile
	if ok {
		if in.Name != nil {
			p.Name = *in.Name
		}
		if in.Description != nil {
			p.Description = *in.Description
		}
		p.UpdatedAt = time.Now().UTC()
		a.data.projects[ws][id] = p
	}
	a.data.mu.Unlock()
	if !ok {
		projectNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *api) deleteProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ws := principal(r).WorkspaceID
	a.data.mu.Lock()
	_, ok := a.data.projects[ws][id]
	delete(a.data.projects[ws], id)
	a.data.mu.Unlock()
	if !ok {
		projectNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sampleTasks and sampleClients are every workspace's read-only data.
var (
	sampleTasks = []task{
		{ID: "task_welcome", Title: "Invite your team", Completed: true},
		{ID: "task_connect", Title: "Connect an integration", Completed: false},
	}
	sampleClients = []client{
		{ID: "client_acme", Name: "Acme Corp", Email: "billing@acme.example"},
	}
)

func (a *api) listTasks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, list[task]{Data: sampleTasks})
}

func (a *api) listClients(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, list[client]{Data: sampleClients})
}
