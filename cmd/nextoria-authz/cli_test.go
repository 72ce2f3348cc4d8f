package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// runCLI runs the command tree with args, stdin and env, and returns what it
// printed on stdout.
func runCLI(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(strings.NewReader(stdin), &stdout, &stderr, env)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return stdout.String(), err
}

// mustRun is runCLI for commands that must succeed.
func mustRun(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, env, stdin, args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return out
}

// decode parses one JSON document printed by a command.
func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return v
}

func testEnv(dbURL string) []string {
	return []string{"NEXTORIA_DATABASE_URL=" + dbURL, "NEXTORIA_SECRETS_SYSTEM=" + testSecret, "NEXTORIA_LOG_LEVEL=error"}
}

func TestCLIMigrate(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewEmptyDatabase(t))

	st := decode[map[string]any](t, mustRun(t, env, "", "migrate", "status", "--json"))
	if st["current"] != float64(0) || len(st["pending"].([]any)) == 0 {
		t.Fatalf("status of an empty database = %v", st)
	}
	_, err := runCLI(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth")
	if err == nil || !strings.Contains(err.Error(), "migrate up") {
		t.Fatalf("data command on an unmigrated database: err = %v, want advice to run migrate up", err)
	}

	up := decode[map[string]int](t, mustRun(t, env, "", "migrate", "up", "--json"))
	if up["applied"] < 1 {
		t.Fatalf("migrate up = %v", up)
	}
	st = decode[map[string]any](t, mustRun(t, env, "", "migrate", "status", "--json"))
	if st["current"] != st["latest"] || st["pending"] == nil || len(st["pending"].([]any)) != 0 {
		t.Fatalf("status after migrate up = %v", st)
	}
	if out := mustRun(t, env, "", "migrate", "up"); !strings.Contains(out, "applied 0 migration") {
		t.Errorf("second migrate up printed %q", out)
	}
	if out := mustRun(t, env, "", "migrate", "status"); !strings.Contains(out, "up to date") {
		t.Errorf("migrate status printed %q", out)
	}
}

func TestCLIWorkspacesUsersApps(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.NewDatabase(t)
	env := testEnv(dbURL)

	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))
	if ws["id"] == "" {
		t.Fatal("workspaces create --json printed no id")
	}
	if out := mustRun(t, env, "", "workspaces", "create", "--name", "Other", "--plan", "scale"); !regexp.MustCompile(`^[0-9a-f-]{36}\n$`).MatchString(out) {
		t.Errorf("workspaces create printed %q, want the id", out)
	}

	// The password comes from the first line of stdin.
	user := decode[map[string]string](t, mustRun(t, env, "correct horse battery\nignored second line\n",
		"users", "create", "--email", "Ada@Acme.example", "--workspace", ws["id"], "--role", "admin", "--json"))
	if user["id"] == "" {
		t.Fatal("users create --json printed no id")
	}
	pool, err := storage.Connect(t.Context(), dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := storage.New(pool, storage.Options{})
	u, err := store.GetUserByEmail(t.Context(), "ada@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != user["id"] || u.Role != storage.RoleAdmin || u.WorkspaceID != ws["id"] {
		t.Errorf("user = %+v", u)
	}
	if ok, err := secret.VerifyPassword(u.PasswordHash, "correct horse battery"); !ok || err != nil {
		t.Errorf("the stored hash does not match the password from stdin (err %v)", err)
	}

	_, err = runCLI(t, env, "another password\n", "users", "create", "--email", "ada@acme.example", "--workspace", ws["id"])
	if err == nil || !strings.Contains(err.Error(), `a user with e-mail "ada@acme.example" already exists`) {
		t.Errorf("duplicate e-mail: err = %v", err)
	}
	_, err = runCLI(t, env, "long enough\n", "users", "create", "--email", "bob@acme.example", "--workspace", "00000000-0000-0000-0000-000000000000")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown workspace: err = %v", err)
	}
	if out := mustRun(t, env, "member password\r\n", "users", "create", "--email", "bob@acme.example", "--workspace", ws["id"]); !regexp.MustCompile(`^[0-9a-f-]{36}\n$`).MatchString(out) {
		t.Errorf("users create printed %q, want the id", out)
	}
	bob, err := store.GetUserByEmail(t.Context(), "bob@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secret.VerifyPassword(bob.PasswordHash, "member password"); !ok || bob.Role != storage.RoleMember {
		t.Errorf("bob = %+v; the CR of a CRLF line must not be part of the password", bob)
	}

	// A confidential app with a logo and two scopes.
	logo := filepath.Join(t.TempDir(), "logo.png")
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logo, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	created := decode[map[string]string](t, mustRun(t, env, "", "apps", "create", "--name", "Acme Sync",
		"--redirect-uri", "https://acme.example/callback", "--redirect-uri", "http://127.0.0.1:9999/callback",
		"--scope", "projects:read", "--scope", "tasks:read", "--logo", logo, "--owner", "ada@acme.example",
		"--homepage-url", "https://acme.example/", "--privacy-url", "https://acme.example/privacy",
		"--description", "Keeps Acme in sync.", "--json"))
	if created["client_id"] == "" || len(created["client_secret"]) != 43 {
		t.Fatalf("apps create --json = %v", created)
	}
	app, err := store.GetApp(t.Context(), created["client_id"])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.DeriveKeys(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(app.SecretHash, secret.NewHasher(keys.SecretHash).Sum([]byte(created["client_secret"]))) {
		t.Error("the stored hash is not keyed from secrets.system")
	}
	if !app.HasLogo || app.WorkspaceID != ws["id"] || app.OwnerID != user["id"] ||
		!slices.Equal(app.Scopes, []string{"projects:read", "tasks:read"}) {
		t.Errorf("app = %+v", app)
	}
	if app.HomepageURL != "https://acme.example/" || app.PrivacyURL != "https://acme.example/privacy" ||
		app.Description != "Keeps Acme in sync." {
		t.Errorf("profile flags not stored: %q %q %q", app.HomepageURL, app.PrivacyURL, app.Description)
	}

	// A public app gets every scope by default and no secret; the human
	// output says so, and a confidential one warns that the secret is shown once.
	out := mustRun(t, env, "", "apps", "create", "--name", "Acme CLI", "--redirect-uri", "http://[::1]:7777/cb",
		"--public", "--owner", "bob@acme.example")
	if !strings.Contains(out, "client_id:") || !strings.Contains(out, "none (public app") {
		t.Errorf("apps create --public printed %q", out)
	}
	out = mustRun(t, env, "", "apps", "create", "--name", "Acme Web", "--redirect-uri", "https://web.acme.example/cb",
		"--owner", "ada@acme.example")
	if !strings.Contains(out, "client_secret: ") || !strings.Contains(out, "shown only this once") {
		t.Errorf("apps create printed %q", out)
	}

	list := decode[[]appJSON](t, mustRun(t, env, "", "apps", "list", "--json"))
	if len(list) != 3 {
		t.Fatalf("apps list --json has %d apps, want 3: %+v", len(list), list)
	}
	byName := map[string]appJSON{}
	for _, a := range list {
		byName[a.Name] = a
	}
	if cli := byName["Acme CLI"]; !cli.Public || !slices.Equal(cli.Scopes, consent.Names()) || cli.CreatedAt.IsZero() {
		t.Errorf("public app in list = %+v", cli)
	}
	if sync := byName["Acme Sync"]; sync.ClientID != created["client_id"] || !sync.HasLogo || len(sync.RedirectURIs) != 2 {
		t.Errorf("confidential app in list = %+v", sync)
	}
	table := mustRun(t, env, "", "apps", "list")
	for _, want := range []string{"CLIENT_ID", "REDIRECT_URIS", created["client_id"], "Acme Sync", "https://acme.example/callback,http://127.0.0.1:9999/callback", "projects:read,tasks:read"} {
		if !strings.Contains(table, want) {
			t.Errorf("apps list table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, created["client_secret"]) {
		t.Error("apps list shows a client secret")
	}

	_, err = runCLI(t, env, "", "apps", "create", "--name", "Ghost", "--redirect-uri", "https://x.example/cb", "--owner", "nobody@acme.example")
	if err == nil || !strings.Contains(err.Error(), "no user with e-mail") {
		t.Errorf("unknown owner: err = %v", err)
	}

	cleaned := decode[map[string]int64](t, mustRun(t, env, "", "cleanup", "--json"))
	if _, ok := cleaned["deleted"]; !ok {
		t.Errorf("cleanup --json = %v", cleaned)
	}

	// While another process (a server instance) holds the cleanup lock, the
	// command does nothing and says so.
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `SELECT pg_advisory_lock(x'6e78636c65616e'::bigint)`); err != nil {
		t.Fatal(err)
	}
	skipped := decode[map[string]any](t, mustRun(t, env, "", "cleanup", "--json"))
	if skipped["skipped"] != true || skipped["deleted"] != float64(0) {
		t.Errorf("cleanup --json while another process cleans = %v", skipped)
	}
}

// TestCLIRejectsBadInput covers mistakes caught before any row is written.
func TestCLIRejectsBadInput(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewDatabase(t))
	noSecret := env[:1]
	tests := []struct {
		name    string
		env     []string
		stdin   string
		args    []string
		wantErr []string
	}{
		{"bad plan", env, "", []string{"workspaces", "create", "--name", "Acme", "--plan", "enterprise"}, []string{`--plan "enterprise" is unknown`, "starter, growth, scale"}},
		{"missing plan", env, "", []string{"workspaces", "create", "--name", "Acme"}, []string{`"plan" not set`}},
		{"blank workspace name", env, "", []string{"workspaces", "create", "--name", "  ", "--plan", "starter"}, []string{"--name must be 1 to 200"}},
		{"bad e-mail", env, "password123\n", []string{"users", "create", "--email", "not-an-email", "--workspace", "x"}, []string{"not an e-mail address"}},
		{"display-name e-mail", env, "password123\n", []string{"users", "create", "--email", "Ada <ada@x.example>", "--workspace", "x"}, []string{"not an e-mail address"}},
		{"bad role", env, "password123\n", []string{"users", "create", "--email", "a@x.example", "--workspace", "x", "--role", "owner"}, []string{`--role "owner" is unknown`}},
		{"short password", env, "short\n", []string{"users", "create", "--email", "a@x.example", "--workspace", "x"}, []string{"at least 8 characters"}},
		{"long password", env, strings.Repeat("p", 1025) + "\n", []string{"users", "create", "--email", "a@x.example", "--workspace", "x"}, []string{"at most 1024 characters"}},
		{"no password", env, "", []string{"users", "create", "--email", "a@x.example", "--workspace", "x"}, []string{"no password on standard input"}},
		{"password in argv is not a flag", env, "", []string{"users", "create", "--email", "a@x.example", "--workspace", "x", "--password", "secret123"}, []string{"unknown flag: --password"}},
		{"bad app", env, "", []string{"apps", "create", "--name", "", "--redirect-uri", "http://acme.example/cb", "--scope", "admin", "--owner", "a@x.example"},
			[]string{"invalid app", "--name: is required", "--redirect-uri: redirect URI \"http://acme.example/cb\": must use https", "--scope: unknown scope \"admin\""}},
		{"bad profile", env, "", []string{"apps", "create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--public", "--owner", "a@x.example",
			"--homepage-url", "http://a.example/", "--privacy-url", "javascript:x", "--description", "two\nlines"},
			[]string{"--homepage-url: must be an https://", "--privacy-url: must be an https://", "--description: must be a single line"}},
		{"svg logo", env, "", []string{"apps", "create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--logo", writeFile(t, "logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>"), "--owner", "a@x.example"},
			[]string{"--logo: logo must be a PNG, JPEG or WebP image"}},
		{"missing logo file", env, "", []string{"apps", "create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--logo", "/nonexistent/logo.png", "--owner", "a@x.example"},
			[]string{"--logo:", "no such file"}},
		{"confidential app without system secret", noSecret, "", []string{"apps", "create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--owner", "a@x.example"},
			[]string{"secrets.system", "NEXTORIA_SECRETS_SYSTEM"}},
		{"serve validates everything", []string{"NEXTORIA_LOG_LEVEL=loud", "NEXTORIA_ISSUER=http://auth.example.com"}, "", []string{"serve"},
			[]string{"invalid configuration", "secrets.system is required", "log.level", "must use https", "refusing to serve plain HTTP"}},
		{"unreachable database", []string{"NEXTORIA_DATABASE_URL=postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=5"}, "", []string{"apps", "list"},
			[]string{"cannot connect to the database", "NEXTORIA_DATABASE_URL"}},
		{"bad database url", []string{"NEXTORIA_DATABASE_URL=mysql://root:hunter2@db/x"}, "", []string{"migrate", "status"},
			[]string{"database.url must be a postgres:// URL"}},
		{"unknown config key", env, "", []string{"--config", writeFile(t, "c.yaml", "databse:\n  url: x\n"), "apps", "list"},
			[]string{"unknown keys: databse.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := runCLI(t, tt.env, tt.stdin, tt.args...)
			if err == nil {
				t.Fatalf("%v succeeded, want an error", tt.args)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a password: %q", err)
			}
		})
	}
}

func TestExecuteReportsErrors(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), []string{"workspaces", "create", "--name", "A", "--plan", "gold", "--json"},
		strings.NewReader(""), &stdout, &stderr, nil)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	e := decode[map[string]string](t, stderr.String())
	if !strings.Contains(e["error"], "--plan") {
		t.Errorf("JSON error = %v", e)
	}

	stderr.Reset()
	code = execute(t.Context(), []string{"workspaces", "create", "--name", "A", "--plan", "gold"},
		strings.NewReader(""), &stdout, &stderr, nil)
	if code != 1 || !strings.HasPrefix(stderr.String(), "nextoria-authz: --plan") {
		t.Errorf("exit code %d, stderr %q", code, stderr.String())
	}

	stdout.Reset()
	if code := execute(t.Context(), []string{"--help"}, strings.NewReader(""), &stdout, &stderr, nil); code != 0 {
		t.Errorf("--help exit code = %d", code)
	}
	for _, want := range []string{"serve", "migrate", "workspaces", "users", "apps", "cleanup", "NEXTORIA_DATABASE_URL", "--json", "--config"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
