package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// Password length limits, in characters. The upper bound keeps hashing cost
// and request sizes sane; it is far above any passphrase.
const (
	minPasswordLen = 8
	maxPasswordLen = 1024
)

func (c *cli) usersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage users",
	}
	var (
		email, workspaceID, role, name string
		emailVerified                  bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user; the password is read from standard input",
		Long: `Create a user in a workspace and print the user's id.

The password is read from standard input (its first line), never from the
command line, where other users of the machine could see it. On a terminal it
is prompted for without echo.`,
		Example: `  nextoria-authz users create --email ada@example.com --workspace WORKSPACE_ID --role admin
  nextoria-authz users create --email ada@example.com --name "Ada Lovelace" --email-verified --workspace WORKSPACE_ID
  printf '%s\n' "$PASSWORD" | nextoria-authz users create --email ada@example.com --workspace WORKSPACE_ID --json   # {"id":"…"}`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			email = strings.TrimSpace(email)
			if !validEmail(email) {
				return fmt.Errorf("--email %q is not an e-mail address", email)
			}
			if role != storage.RoleAdmin && role != storage.RoleMember {
				return fmt.Errorf("--role %q is unknown: use %s or %s", role, storage.RoleAdmin, storage.RoleMember)
			}
			name = strings.TrimSpace(name)
			if msg := checkDisplayName(name); msg != "" {
				return fmt.Errorf("--name: %s", msg)
			}
			password, err := c.readPassword()
			if err != nil {
				return err
			}
			if err := checkPassword(password); err != nil {
				return err
			}
			hash, err := secret.HashPassword(password)
			if err != nil {
				return fmt.Errorf("hash password: %w", err)
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				u, err := store.CreateUser(ctx, storage.NewUser{Email: email, PasswordHash: hash, WorkspaceID: workspaceID, Role: role,
					Name: name, EmailVerified: emailVerified})
				switch {
				case errors.Is(err, storage.ErrConflict):
					return fmt.Errorf("a user with e-mail %q already exists", email)
				case errors.Is(err, storage.ErrNotFound):
					return fmt.Errorf("workspace %q does not exist (create one with 'nextoria-authz workspaces create')", workspaceID)
				case err != nil:
					return fmt.Errorf("create user: %w", err)
				}
				if c.json {
					return c.printJSON(map[string]string{"id": u.ID})
				}
				c.printf("%s\n", u.ID)
				return nil
			})
		},
	}
	create.Flags().StringVar(&email, "email", "", "e-mail address the user signs in with (required)")
	create.Flags().StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` of the user's workspace (required)")
	create.Flags().StringVar(&role, "role", storage.RoleMember, "role in the workspace: admin or member")
	create.Flags().StringVar(&name, "name", "", "display `NAME` apps see with the profile scope (default: the part of the e-mail before @)")
	create.Flags().BoolVar(&emailVerified, "email-verified", false, "the e-mail address is known to be the user's (apps see email_verified: true)")
	_ = create.MarkFlagRequired("email")
	_ = create.MarkFlagRequired("workspace")
	cmd.AddCommand(create)
	return cmd
}

// maxDisplayNameLen bounds a user's display name, in characters.
const maxDisplayNameLen = 200

// checkDisplayName returns what is wrong with a display name, or "" (an
// empty name is fine: it defaults to the e-mail's local part).
func checkDisplayName(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "must be valid UTF-8 text"
	case utf8.RuneCountInString(name) > maxDisplayNameLen:
		return fmt.Sprintf("must be at most %d characters", maxDisplayNameLen)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return "must contain only printable characters"
	}
	return ""
}

// validEmail accepts a bare address (no display name, no angle brackets)
// that net/mail can parse back to itself.
func validEmail(s string) bool {
	if len(s) < 3 || len(s) > 320 {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1
}

func checkPassword(p string) error {
	if !utf8.ValidString(p) {
		return errors.New("the password must be valid UTF-8 text")
	}
	n := utf8.RuneCountInString(p)
	if n < minPasswordLen {
		return fmt.Errorf("the password must be at least %d characters", minPasswordLen)
	}
	if n > maxPasswordLen {
		return fmt.Errorf("the password must be at most %d characters", maxPasswordLen)
	}
	return nil
}

// readPassword prompts without echo on a terminal and otherwise reads the
// first line of standard input.
func (c *cli) readPassword() (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(c.stderr, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords do not match")
		}
		return string(p1), nil
	}
	// Read a little more than the longest password so that an over-long one
	// is reported as such rather than cut.
	r := bufio.NewReader(io.LimitReader(c.stdin, 4*maxPasswordLen+2))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input: pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | nextoria-authz users create …")
	}
	return line, nil
}
