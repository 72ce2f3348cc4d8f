package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nextoria/authz/storage"
)

// operator names the person running the command, for the audit log: their
// operating-system user name, else $USER, else "unknown".
func (c *cli) operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "USER="); ok && v != "" {
			return v
		}
	}
	return "unknown"
}

// operatorEvent is a change made from the command line. The host it ran on
// is kept in the details; there is no client address or browser.
func (c *cli) operatorEvent(action, workspaceID, targetKind, targetID string, details map[string]any) storage.AuditEvent {
	if details == nil {
		details = map[string]any{}
	}
	if host, err := os.Hostname(); err == nil {
		details["host"] = host
	}
	return storage.AuditEvent{
		WorkspaceID: workspaceID, ActorKind: storage.ActorOperator, ActorID: c.operator(),
		Action: action, TargetKind: targetKind, TargetID: targetID, Details: details,
	}
}

func (c *cli) auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit log",
		Long: `The audit log records sign-ins (succeeded, failed, throttled), sign-outs,
consent decisions and revocations, refresh-token reuse, app and API key changes
and signing key rotations: who did it, when, from which address and browser.
Events are written in the same transaction as the change they record and kept
for audit.retention (365 days by default); 'cleanup' deletes older ones.`,
	}
	cmd.AddCommand(c.auditListCmd())
	return cmd
}

// auditEventJSON is one line of 'audit list --json'.
type auditEventJSON struct {
	ID          int64          `json:"id"`
	Time        time.Time      `json:"time"`
	WorkspaceID string         `json:"workspace_id,omitempty"`
	Action      string         `json:"action"`
	ActorKind   string         `json:"actor_kind"`
	ActorID     string         `json:"actor_id"`
	ActorEmail  string         `json:"actor_email,omitempty"`
	TargetKind  string         `json:"target_kind,omitempty"`
	TargetID    string         `json:"target_id,omitempty"`
	TargetEmail string         `json:"target_email,omitempty"`
	ClientIP    string         `json:"client_ip,omitempty"`
	UserAgent   string         `json:"user_agent,omitempty"`
	Details     map[string]any `json:"details"`
}

func (c *cli) auditListCmd() *cobra.Command {
	var (
		workspaceID, action string
		since               time.Duration
		limit               int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Long: `List the audit events of a workspace, newest first: with --json one JSON
object per line, else a table. Without --workspace it lists the server-wide
events, which belong to no workspace (signing key rotations).`,
		Example: `  nextoria-authz audit list --workspace WORKSPACE_ID --since 24h --json
  nextoria-authz audit list --workspace WORKSPACE_ID --action signin.failed`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{needsConfig: configData},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if action != "" && !slices.Contains(storage.AuditActions, action) {
				return fmt.Errorf("--action %q is unknown: use one of %s", action, strings.Join(storage.AuditActions, ", "))
			}
			if since < 0 {
				return fmt.Errorf("--since %s: want a positive duration such as 24h", since)
			}
			if limit < 1 || limit > storage.MaxAuditPage {
				return fmt.Errorf("--limit %d: want 1 to %d", limit, storage.MaxAuditPage)
			}
			return c.withStore(cmd.Context(), true, func(ctx context.Context, store *storage.Store) error {
				if workspaceID != "" {
					if _, err := store.GetWorkspace(ctx, workspaceID); errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("--workspace: no workspace %q", workspaceID)
					} else if err != nil {
						return fmt.Errorf("look up workspace: %w", err)
					}
				}
				q := storage.AuditQuery{WorkspaceID: workspaceID, Action: action, Limit: limit}
				if since > 0 {
					q.Since = time.Now().Add(-since)
				}
				events, err := store.ListAuditEvents(ctx, q)
				if err != nil {
					return fmt.Errorf("list audit events: %w", err)
				}
				if c.json {
					for _, ev := range events {
						if err := c.printJSON(auditJSON(ev)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tTARGET\tIP")
				for _, ev := range events {
					ip := "-"
					if ev.ClientIP.IsValid() {
						ip = ev.ClientIP.String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.DateTime), ev.Action,
						auditParty(ev.ActorKind, ev.ActorID, ev.ActorEmail), auditParty(ev.TargetKind, ev.TargetID, ev.TargetEmail), ip)
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspaceID, "workspace", "", "`WORKSPACE_ID` whose events to list (default: the server-wide events)")
	f.DurationVar(&since, "since", 0, "only events of this last `DURATION`, e.g. 24h (default: all kept)")
	f.StringVar(&action, "action", "", "only events of this `ACTION`, e.g. signin.failed")
	f.IntVar(&limit, "limit", storage.MaxAuditPage, "at most `N` events, the newest")
	return cmd
}

// auditJSON is ev as 'audit list --json' prints it.
func auditJSON(ev storage.AuditEvent) auditEventJSON {
	out := auditEventJSON{
		ID: ev.ID, Time: ev.Time.UTC(), WorkspaceID: ev.WorkspaceID, Action: ev.Action,
		ActorKind: ev.ActorKind, ActorID: ev.ActorID, ActorEmail: ev.ActorEmail,
		TargetKind: ev.TargetKind, TargetID: ev.TargetID, TargetEmail: ev.TargetEmail,
		UserAgent: ev.UserAgent, Details: ev.Details,
	}
	if ev.ClientIP.IsValid() {
		out.ClientIP = ev.ClientIP.String()
	}
	if out.Details == nil {
		out.Details = map[string]any{}
	}
	return out
}

// auditParty is an actor or target in the table: "kind:id", with the
// e-mail of a user.
func auditParty(kind, id, email string) string {
	switch {
	case kind == "":
		return "-"
	case email != "":
		return kind + ":" + email
	}
	return kind + ":" + id
}
