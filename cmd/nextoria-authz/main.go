// Command nextoria-authz is the Nextoria Authz server and its administration
// CLI: it serves the OAuth 2.0 endpoints and the browser sign-in and consent
// pages, migrates the database, and creates workspaces, users and OAuth apps.
//
// It is the only place that reads the environment and calls os.Exit.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// execute runs the CLI and turns its error into a message on stderr (JSON
// with --json) and an exit code.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	root := newRootCmd(stdin, stdout, stderr, env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if asJSON, _ := root.PersistentFlags().GetBool("json"); asJSON {
		_ = json.NewEncoder(stderr).Encode(map[string]string{"error": err.Error()})
	} else {
		fmt.Fprintf(stderr, "nextoria-authz: %v\n", err)
	}
	return 1
}

// annotation keys of commands: how much configuration a command needs.
const (
	needsConfig = "config"
	configData  = "data"  // database and logging
	configServe = "serve" // everything, validated by Config.Validate
)

// cli carries what every command shares: the I/O streams, the environment,
// the global flags, and the configuration and logger made from them.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            []string

	configPath string
	json       bool

	cfg    Config
	logger *slog.Logger
}

// newRootCmd builds the command tree. Tests drive it with their own streams
// and environment; main passes the process's.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer, env []string) *cobra.Command {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := &cobra.Command{
		Use:   "nextoria-authz",
		Short: "Nextoria Authz, the OAuth 2.0 authorization server of Nextoria Hub",
		Long: `Nextoria Authz is the OAuth 2.0 authorization server of Nextoria Hub.

Configuration comes from an optional YAML file (--config, documented in
config.example.yaml) and from environment variables: every key K is
overridden by NEXTORIA_ followed by K in upper case with '.' replaced by '_',
for example NEXTORIA_DATABASE_URL for database.url. The variables are:
  ` + strings.Join(envNames(), "\n  "),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return c.configure(cmd)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
	})
	root.PersistentFlags().StringVar(&c.configPath, "config", "", "read configuration from the YAML `FILE` (environment variables override it)")
	root.PersistentFlags().BoolVar(&c.json, "json", false, "print machine-readable JSON")
	root.AddCommand(
		c.serveCmd(),
		c.migrateCmd(),
		c.workspacesCmd(),
		c.usersCmd(),
		c.appsCmd(),
		c.apiKeysCmd(),
		c.registrationTokensCmd(),
		c.cleanupCmd(),
		c.resourceServersCmd(),
		c.keysCmd(),
		c.healthcheckCmd(),
		c.auditCmd(),
	)
	return root
}

// configure loads and validates the configuration a command needs and builds
// the logger. Commands without the annotation (help, groups) need none.
func (c *cli) configure(cmd *cobra.Command) error {
	need := cmd.Annotations[needsConfig]
	if need == "" {
		return nil
	}
	cfg, err := LoadConfig(c.configPath, c.env)
	if err != nil {
		return err
	}
	if need == configServe {
		dev, _ := cmd.Flags().GetBool("dev")
		err = cfg.Validate(dev)
	} else {
		err = cfg.validateData()
	}
	if err != nil {
		return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	logger, err := cfg.Log.NewLogger(c.stderr)
	if err != nil {
		return err
	}
	c.cfg, c.logger = cfg, logger
	return nil
}

// connectTimeout bounds how long a command waits for the database to answer.
const connectTimeout = 15 * time.Second

// withStore connects to the database, checks that its schema is up to date
// when checkSchema is set, runs fn with a store, and closes the pool.
func (c *cli) withStore(ctx context.Context, checkSchema bool, fn func(ctx context.Context, store *storage.Store) error) error {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	pool, err := storage.ConnectPool(cctx, c.cfg.Database.URL, c.cfg.Database.PoolOptions())
	if err != nil {
		return fmt.Errorf("cannot connect to the database (database.url, or %s): %w", envName("database.url"), err)
	}
	defer pool.Close()
	if checkSchema {
		st, err := storage.GetMigrationStatus(ctx, pool)
		if err != nil {
			return err
		}
		if len(st.Pending) > 0 {
			return fmt.Errorf("the database schema is not up to date (%d migration(s) pending): run 'nextoria-authz migrate up'", len(st.Pending))
		}
	}
	store := storage.New(pool, c.cfg.StorageOptions())
	if err := store.CheckIsolation(ctx); err != nil {
		return err
	}
	return fn(ctx, store)
}

// printJSON writes v as one line of JSON.
func (c *cli) printJSON(v any) error {
	return json.NewEncoder(c.stdout).Encode(v)
}

// printf writes human-readable output.
func (c *cli) printf(format string, args ...any) {
	fmt.Fprintf(c.stdout, format, args...)
}

func (c *cli) serveCmd() *cobra.Command {
	var dev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `Run the authorization server until SIGINT or SIGTERM.

The server refuses to start on an incomplete or unsafe configuration and
lists every problem. --dev is for a development machine: it accepts plain
HTTP and seeds a demo workspace, user and app, and prints how to use them.`,
		Example:     "  NEXTORIA_SECRETS_SYSTEM=$(cat .dev/system-secret) nextoria-authz serve --dev",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configServe},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), c.cfg, dev, c.logger, c.stdout)
		},
	}
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: plain HTTP allowed, demo data seeded (never in production)")
	return cmd
}
